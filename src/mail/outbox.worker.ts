import type { FastifyBaseLogger } from 'fastify'
import type { Mailer, OutgoingMail } from './mailer.js'
import type { OutboxRepository } from './outbox.repository.js'
import type { OutboxKind, OutboxRow } from './outbox.table.js'

export interface OutboxWorker {
  start(): void
  /** Something was queued: look now instead of at the next poll. */
  kick(): void
  /** Stops claiming, lets in-flight mails finish, records them, gives back unstarted rows. */
  stop(): Promise<void>
}

export type WorkerLog = Pick<FastifyBaseLogger, 'error' | 'warn'>

/** What a mail says; the outbox row gives its recipient and Message-ID. */
export type MailContent = Pick<OutgoingMail, 'subject' | 'text' | 'headers'>

/** How the features that queue mails of their own kinds take part in delivering them. */
export interface DeliveryHooks {
  /** Renders a row of this kind when it is sent (transactional rows carry their text). */
  readonly render?: Partial<
    Record<Exclude<OutboxKind, 'transactional'>, (row: OutboxRow) => Promise<MailContent>>
  >
  /** Rows that reached their end (sent, or failed for good), after that is written. */
  readonly settled?: (rows: readonly OutboxRow[]) => Promise<void>
}

export interface OutboxWorkerOptions {
  outbox: OutboxRepository
  mailer: Mailer
  hooks: DeliveryHooks
  log: WorkerLog
  /** Mails in flight at once: rendered, being sent, or being recorded. */
  concurrency: number
  /**
   * The mailer's SMTP connections: at most this many mails are handed to it and not yet
   * recorded, so a connection never starts a mail while the one it sent before is unrecorded.
   */
  connections: number
  /** How long a claimed row belongs to this worker; after a crash it is due again then. */
  leaseMs: number
  /** First retry delay; doubles with each attempt, capped at an hour. */
  retryBaseMs: number
  maxAttempts: number
  pollMs?: number
}

const FLUSH_SIZE = 64
const MAX_BACKOFF_MS = 60 * 60 * 1000

/**
 * Delivers outbox rows inside the server process: claims due rows with a lease, sends them
 * with bounded concurrency, records results in batches. A mail is marked sent only after the
 * SMTP server accepted it, and a mail goes to the mailer only while fewer than `connections`
 * handed to it are unrecorded, so a crash can repeat at most one mail per SMTP connection (same
 * Message-ID): the one each connection had sent, or was sending, at the kill. The other slots
 * render the next mails meanwhile, so a connection waits only for the record, not for a render.
 */
export function createOutboxWorker(options: OutboxWorkerOptions): OutboxWorker {
  const { outbox, mailer, hooks, log } = options
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
  // Mails handed to the mailer and not yet recorded, and the deliveries waiting to hand theirs.
  let sending = 0
  const waitingToSend: (() => void)[] = []
  // Sent mails waiting to be recorded, each with the delivery that waits for it.
  const unrecorded: { row: OutboxRow; recorded: () => void }[] = []
  let recording = false

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
   * worker is not on its own, see startMailThread) starting a whole batch in one go
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
    const content =
      row.kind === 'transactional'
        ? (JSON.parse(row.payload) as MailContent)
        : await hooks.render?.[row.kind]?.(row)
    if (content === undefined) throw new Error(`no renderer for ${row.kind} mails`)
    const to = { name: row.recipient_name, address: row.recipient_email }
    return { ...content, to, messageId: row.message_id }
  }

  async function sendPermit(): Promise<void> {
    if (sending < options.connections) {
      sending += 1
      return
    }
    // The one who frees the permit hands it over: `sending` stays as it is.
    await new Promise<void>((granted) => waitingToSend.push(granted))
  }

  function releaseSendPermit(): void {
    const next = waitingToSend.shift()
    if (next === undefined) sending -= 1
    else next()
  }

  async function deliver(row: OutboxRow): Promise<void> {
    active += 1
    let permitted = false
    try {
      const mail = await render(row)
      await sendPermit()
      permitted = true
      // A row whose lease is running out (it waited long in a busy process) may be claimed again,
      // by this worker or another, while it is being sent: leave it to that claim. Half the lease
      // covers an SMTP exchange (the mailer's socket timeout is half the default lease).
      if (Date.parse(row.lease_until ?? '') - Date.now() < options.leaseMs / 2) {
        log.warn({ outbox: row.id }, 'mail lease ran short before sending; left for the next claim')
        return
      }
      const result = await mailer.send(mail)
      if (result.ok) {
        await new Promise<void>((recorded) => {
          unrecorded.push({ row, recorded })
          void recordSent()
        })
      } else if (result.permanent || row.attempts >= options.maxAttempts) {
        await outbox.markFailed(row.id, result.error)
        await hooks.settled?.([row])
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
      // The result is written (or could not be): this mail can no longer be sent twice.
      if (permitted) releaseSendPermit()
      active -= 1
      void pump()
    }
  }

  function nowIso(): string {
    return new Date().toISOString()
  }

  /**
   * Group commit: one UPDATE records every mail that was accepted while the previous one ran,
   * so the database stays cheap under load and a mail waits for at most one write before its
   * slot goes to the next mail.
   */
  async function recordSent(): Promise<void> {
    if (recording) return
    recording = true
    while (unrecorded.length > 0) {
      const batch = unrecorded.splice(0, FLUSH_SIZE)
      const rows = batch.map((entry) => entry.row)
      let marked = false
      try {
        await outbox.markSent(
          rows.map((row) => row.id),
          nowIso(),
        )
        marked = true
      } catch (error) {
        // Left pending with a lease: they will go again, with the same Message-ID.
        log.error({ err: error, count: rows.length }, 'could not record sent mails')
      }
      // Recorded: the slots may take their next mails while the features count these.
      for (const entry of batch) entry.recorded()
      if (marked) {
        await hooks.settled?.(rows).catch((error: unknown) => {
          log.error({ err: error, count: rows.length }, 'could not settle sent mails')
        })
      }
    }
    recording = false
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
      const unstarted = queue.splice(0).map((row) => row.id)
      await outbox.release(unstarted, nowIso()).catch((error: unknown) => {
        log.error({ err: error }, 'could not release outbox rows')
      })
      mailer.close()
    },
  }
}
