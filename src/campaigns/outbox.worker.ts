import type { FastifyBaseLogger } from 'fastify'
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

export interface OutboxWorkerOptions {
  outbox: OutboxRepository
  mailer: Mailer
  tokens: MailTokens
  links: MailLinks
  log: FastifyBaseLogger
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
const FLUSH_SIZE = 256
const MAX_BACKOFF_MS = 60 * 60 * 1000

/**
 * Delivers outbox rows inside the server process: claims due rows with a lease, sends them
 * with bounded concurrency, records results in batches. A mail is marked sent only after the
 * SMTP server accepted it, so a crash can repeat only mails in flight (same Message-ID).
 */
export function createOutboxWorker(options: OutboxWorkerOptions): OutboxWorker {
  const { outbox, mailer, tokens, links, log } = options
  const pollMs = options.pollMs ?? 250
  const batchSize = options.concurrency * 4
  const queue: OutboxRow[] = []
  let active = 0
  let claiming = false
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
    while (!stopped && active < options.concurrency && queue.length > 0) {
      const row = queue.shift()
      if (row !== undefined) void deliver(row)
    }
    if (again) {
      again = false
      void pump()
    } else if (claimed === 0 && active === 0) {
      schedule(pollMs)
    }
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
