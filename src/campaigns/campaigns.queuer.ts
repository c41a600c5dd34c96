import { setTimeout as sleep } from 'node:timers/promises'
import type { Kysely } from 'kysely'
import { nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import type { MailJob } from '../mail/mail.delivery.js'
import type { WorkerLog } from '../mail/outbox.worker.js'
import { createCampaignsRepository } from './campaigns.repository.js'

/** Between chunks: at 250 subscribers a chunk, at most 50,000 queued a second. */
const QUEUE_PAUSE_MS = 5
/** How often to look for campaigns another instance left half queued. */
const RESUME_MS = 60_000

/**
 * Writes a sending campaign's outbox rows: one chunk of subscribers per transaction, in id
 * order, with a short pause between chunks, so queuing 100,000 mails never holds the event
 * loop or the database for long, and delivery starts on the first chunk. The cursor
 * (`queued_through`) commits with its chunk, so a crash loses at most the chunk in progress,
 * and the unique (campaign, subscriber) index makes a redone chunk add nothing twice.
 *
 * Runs beside mail delivery: `start` looks for campaigns marked 'queuing' now and then every
 * minute; `kick` queues those this process is not queuing yet; `stop` waits for the chunk in
 * progress, and the rest is resumed on the next start.
 */
export function createCampaignQueuer(deps: {
  db: Kysely<Database>
  messageIdHost: string
  /** Subscribers queued per transaction. */
  chunk: number
  /** Called after each chunk commits. */
  queued: () => void
  log: WorkerLog
}): MailJob {
  const { db } = deps
  const running = new Map<string, Promise<void>>()
  let stopped = false
  let timer: NodeJS.Timeout | undefined

  async function queueAll(id: string): Promise<void> {
    for (;;) {
      if (stopped) return
      const done = await db.transaction().execute(async (trx) => {
        const repo = createCampaignsRepository(trx)
        const after = await repo.lockQueuing(id)
        if (after === undefined) return true
        const now = nowIso()
        const through = await repo.queueChunk({
          campaignId: id,
          after,
          size: deps.chunk,
          now,
          messageIdHost: deps.messageIdHost,
        })
        if (through !== null) {
          await repo.setQueuedThrough(id, through)
          return false
        }
        await repo.setStatus(id, 'sending')
        // Nobody to send to, or everything already went: done at once.
        await repo.finish([id], now)
        return true
      })
      deps.queued()
      if (done) return
      await sleep(QUEUE_PAUSE_MS)
    }
  }

  function queue(id: string): void {
    if (stopped || running.has(id)) return
    const run = queueAll(id)
      .catch((error: unknown) => {
        deps.log.error({ err: error, campaign: id }, 'queuing the campaign failed; retrying')
        setTimeout(() => {
          running.delete(id)
          queue(id)
        }, 1000).unref()
        return 'retry' as const
      })
      .then((outcome) => {
        if (outcome !== 'retry') running.delete(id)
      })
    running.set(id, run)
  }

  async function resume(): Promise<void> {
    if (stopped) return
    const ids = await createCampaignsRepository(db).queuingIds()
    for (const id of ids) queue(id)
  }

  const resumeLogged = () =>
    resume().catch((error: unknown) => deps.log.error({ err: error }, 'resuming campaigns failed'))

  return {
    start() {
      if (timer !== undefined || stopped) return
      void resumeLogged()
      timer = setInterval(resumeLogged, RESUME_MS)
      timer.unref()
    },
    kick: () => void resumeLogged(),
    async stop() {
      stopped = true
      if (timer !== undefined) clearInterval(timer)
      await Promise.all(running.values())
    },
  }
}
