import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { FastifyBaseLogger } from 'fastify'
import type { DatabaseConfig } from '../core/config.js'
import type { Mailer, OutgoingMail } from '../core/mail.js'
import type { MailLinks, MailTokens } from '../subscribers/subscribers.tokens.js'
import type { OutboxRow } from './campaigns.table.js'
import type { OutboxRepository } from './outbox.repository.js'

export interface OutboxWorker {
  start(): void
  /** Something was queued: look now instead of at the next poll. */
  kick(): void
  /** Stops claiming, lets in-flight mails finish, records them, gives back unstarted rows. */
  stop(): Promise<void>
}

export type WorkerLog = Pick<FastifyBaseLogger, 'error' | 'warn'>

export interface OutboxWorkerOptions {
  outbox: OutboxRepository
  mailer: Mailer
  tokens: MailTokens
  links: MailLinks
  log: WorkerLog
  /** Mails in flight at once. */
  concurrency: number
  /** How long a claimed row belongs to this worker; after a crash it is due again then. */
  leaseMs: number
  /** First retry delay; doubles with each attempt, capped at an hour. */
  retryBaseMs: number
  maxAttempts: number
  pollMs?: number
}

const FLUSH_MS = 20
const FLUSH_SIZE = 64
const MAX_BACKOFF_MS = 60 * 60 * 1000

/**
 * Delivers outbox rows inside the server process: claims due rows with a lease, sends them
 * with bounded concurrency, records results in batches. A mail is marked sent only after the
 * SMTP server accepted it, so a crash can repeat only mails in flight (same Message-ID).
 */
export function createOutboxWorker(options: OutboxWorkerOptions): OutboxWorker {
  const { outbox, mailer, tokens, links, log } = options
  const pollMs = options.pollMs ?? 250
  // Claims come every few dozen mails, not after every few.
  const batchSize = Math.max(options.concurrency * 2, 64)
  const queue: OutboxRow[] = []
  let active = 0
  let claiming = false
  let startScheduled = false
  let again = false
  let stopped = true
  let pollTimer: NodeJS.Timeout | undefined
  let sent: string[] = []
  const finished = new Set<string>()
  let flushTimer: NodeJS.Timeout | undefined
  let flushing: Promise<void> = Promise.resolve()
  const campaigns = new Map<string, { subject: string; text: string }>()

  function schedule(delay: number): void {
    if (stopped) return
    if (pollTimer !== undefined) clearTimeout(pollTimer)
    pollTimer = setTimeout(() => {
      pollTimer = undefined
      void pump()
    }, delay)
  }

  async function pump(): Promise<void> {
    if (stopped) return
    if (claiming) {
      again = true
      return
    }
    let claimed = 0
    if (queue.length < options.concurrency) {
      claiming = true
      try {
        const now = Date.now()
        const rows = await outbox.claim(
          batchSize - queue.length,
          new Date(now).toISOString(),
          new Date(now + options.leaseMs).toISOString(),
        )
        claimed = rows.length
        queue.push(...rows)
      } catch (error) {
        if (!stopped) log.error({ err: error }, 'outbox claim failed')
        claiming = false
        schedule(pollMs * 4)
        return
      }
      claiming = false
    }
    startNext()
    if (again) {
      again = false
      void pump()
    } else if (claimed === 0 && active === 0) {
      schedule(pollMs)
    }
  }

  /**
   * Starts one delivery per turn of the event loop, so other work gets in between. Building a
   * message with nodemailer costs a few tenths of a millisecond; on the main thread (when the
   * worker is not on its own, see createThreadOutboxWorker) starting a whole batch in one go
   * held API requests behind all of them.
   */
  function startNext(): void {
    if (startScheduled) return
    startScheduled = true
    setImmediate(() => {
      startScheduled = false
      if (stopped || active >= options.concurrency) return
      const row = queue.shift()
      if (row === undefined) return
      void deliver(row)
      startNext()
      if (queue.length < options.concurrency) void pump()
    })
  }

  async function render(row: OutboxRow): Promise<OutgoingMail> {
    const to = { name: row.recipient_name, address: row.recipient_email }
    if (row.kind === 'transactional') {
      const { subject, text } = JSON.parse(row.payload) as { subject: string; text: string }
      return { to, subject, text, messageId: row.message_id }
    }
    const campaignId = row.campaign_id ?? ''
    let content = campaigns.get(campaignId)
    if (content === undefined) {
      content = await outbox.campaignContent(campaignId)
      if (content === undefined) throw new Error('campaign not found')
      campaigns.set(campaignId, content)
    }
    const unsubscribe = links.unsubscribe(tokens.unsubscribeToken(row.subscriber_id ?? ''))
    return {
      to,
      subject: content.subject,
      text: `${content.text}\n\n--\nYou get this mail because you subscribed to this list.\nUnsubscribe: ${unsubscribe}\n`,
      messageId: row.message_id,
      headers: {
        // RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe button.
        'List-Unsubscribe': `<${unsubscribe}>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      },
    }
  }

  async function deliver(row: OutboxRow): Promise<void> {
    active += 1
    try {
      const mail = await render(row)
      const result = await mailer.send(mail)
      if (result.ok) {
        sent.push(row.id)
        if (row.campaign_id !== null) finished.add(row.campaign_id)
        if (sent.length >= FLUSH_SIZE) void flush()
        else if (flushTimer === undefined) flushTimer = setTimeout(() => void flush(), FLUSH_MS)
      } else if (result.permanent || row.attempts >= options.maxAttempts) {
        await outbox.markFailed(row.id, result.error)
        if (row.campaign_id !== null) await outbox.finishCampaigns([row.campaign_id], nowIso())
      } else {
        const backoff = Math.min(options.retryBaseMs * 2 ** (row.attempts - 1), MAX_BACKOFF_MS)
        const jitter = Math.random() * backoff * 0.2
        await outbox.retryLater(
          row.id,
          new Date(Date.now() + backoff + jitter).toISOString(),
          result.error,
        )
        log.warn({ outbox: row.id, attempts: row.attempts, error: result.error }, 'mail deferred')
      }
    } catch (error) {
      log.error({ err: error, outbox: row.id }, 'outbox delivery failed')
      await outbox.markFailed(row.id, 'could not render the mail').catch(() => undefined)
    } finally {
      active -= 1
      void pump()
    }
  }

  function nowIso(): string {
    return new Date().toISOString()
  }

  /** Results are written in batches: one UPDATE for many mails keeps the database cheap. */
  function flush(): Promise<void> {
    if (flushTimer !== undefined) {
      clearTimeout(flushTimer)
      flushTimer = undefined
    }
    const ids = sent
    const campaignIds = [...finished]
    sent = []
    finished.clear()
    flushing = flushing.then(async () => {
      if (ids.length === 0) return
      try {
        const now = nowIso()
        await outbox.markSent(ids, now)
        await outbox.finishCampaigns(campaignIds, now)
      } catch (error) {
        // Left pending with a lease: they will go again, with the same Message-ID.
        log.error({ err: error, count: ids.length }, 'could not record sent mails')
      }
    })
    return flushing
  }

  return {
    start() {
      if (!stopped) return
      stopped = false
      schedule(0)
    },
    kick() {
      if (stopped) return
      if (pollTimer !== undefined) {
        clearTimeout(pollTimer)
        pollTimer = undefined
      }
      void pump()
    },
    async stop() {
      if (stopped) return
      stopped = true
      if (pollTimer !== undefined) clearTimeout(pollTimer)
      const deadline = Date.now() + 10_000
      while ((active > 0 || claiming) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      await flush()
      const unstarted = queue.splice(0).map((row) => row.id)
      await outbox.release(unstarted, nowIso()).catch((error: unknown) => {
        log.error({ err: error }, 'could not release outbox rows')
      })
      mailer.close()
    },
  }
}

/** What the outbox thread needs to build its own worker: plain data, copied to the thread. */
export interface OutboxThreadData {
  database: DatabaseConfig
  smtpUrl: string
  mailFrom: string
  maxConnections: number
  messageIdHost: string
  publicUrl: string
  tokenSecret: Uint8Array
  /** Subscribers queued per transaction (see createCampaignQueuer). */
  queueChunk: number
  options: Pick<
    OutboxWorkerOptions,
    'concurrency' | 'leaseMs' | 'retryBaseMs' | 'maxAttempts' | 'pollMs'
  >
}

export type OutboxThreadMessage =
  | { type: 'log'; level: 'error' | 'warn'; obj: unknown; msg: string | undefined }
  | { type: 'stopped' }

/** The thread's entry; compiled JavaScript only (the TypeScript source, as tests run it, has none). */
const THREAD_ENTRY = new URL('./outbox.thread.js', import.meta.url)

/** True when the outbox worker can run on a thread: the built server, on a shareable database. */
export function outboxThreadAvailable(database: DatabaseConfig): boolean {
  if (database.kind === 'sqlite' && database.path === ':memory:') return false
  return existsSync(fileURLToPath(THREAD_ENTRY))
}

/**
 * The outbox worker on a worker thread with its own database connection. Building and
 * sending 1,000+ messages a second on the main thread held up API requests (tens of ms at
 * p99) and grew the main heap; the thread's heap is capped, so its garbage is collected early.
 * If the thread dies, it is started again; rows it had claimed go again when their lease
 * ends, as after a crash.
 */
export function createThreadOutboxWorker(
  data: OutboxThreadData,
  log: FastifyBaseLogger,
): OutboxWorker {
  let thread: Worker | undefined
  let stopping = false
  let stopped: (() => void) | undefined

  function spawn(): void {
    const current = new Worker(THREAD_ENTRY, {
      workerData: data,
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
    })
    current.on('message', (message: OutboxThreadMessage) => {
      if (message.type === 'stopped') stopped?.()
      else log[message.level](message.obj as object, message.msg)
    })
    current.on('error', (error) => log.error({ err: error }, 'outbox thread failed'))
    current.on('exit', () => {
      if (thread !== current) return
      thread = undefined
      stopped?.()
      if (stopping) return
      log.error('outbox thread ended; starting it again')
      setTimeout(() => {
        if (!stopping && thread === undefined) spawn()
      }, 1000).unref()
    })
    thread = current
  }

  return {
    start() {
      if (thread === undefined && !stopping) spawn()
    },
    kick() {
      thread?.postMessage('kick')
    },
    async stop() {
      stopping = true
      const current = thread
      if (current === undefined) return
      await new Promise<void>((resolve) => {
        stopped = resolve
        current.postMessage('stop')
        // The thread's own stop waits up to 10 s for mails in flight.
        setTimeout(() => void current.terminate().then(() => resolve()), 15_000).unref()
      })
      thread = undefined
    },
  }
}
