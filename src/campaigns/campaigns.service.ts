import { setImmediate as nextTurn } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import { uuidv7 } from 'uuidv7'
import type { DialectName } from '../core/db.js'
import { AppError } from '../core/errors.js'
import type { CursorCodec, Page } from '../core/pagination.js'
import { nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import { createCampaignsRepository } from './campaigns.repository.js'
import { type Campaign, type CampaignCreate, toCampaign } from './campaigns.schemas.js'
import type { CampaignRow } from './campaigns.table.js'
import { createOutboxRepository } from './outbox.repository.js'

const notFound = () => new AppError(404, 'CAMPAIGN_NOT_FOUND', 'Not found', 'No such campaign')

export type CampaignsService = ReturnType<typeof createCampaignsService>

export function createCampaignsService(deps: {
  db: Kysely<Database>
  dialect: DialectName
  messageIdHost: string
  cursors: CursorCodec
  /** Called after a commit that queued mail. */
  mailQueued: () => void
  /** Subscribers queued per transaction. */
  queueChunk: number
  log: FastifyBaseLogger
}) {
  const { db } = deps
  const outboxOptions = { messageIdHost: deps.messageIdHost, dialect: deps.dialect }
  const campaigns = createCampaignsRepository(db)
  const outbox = createOutboxRepository(db, outboxOptions)
  const queuing = new Map<string, Promise<void>>()
  let stopped = false

  async function withCounts(rows: readonly CampaignRow[]): Promise<Campaign[]> {
    const counts = await outbox.campaignCounts(rows.map((row) => row.id))
    return rows.map((row) =>
      toCampaign(row, counts.get(row.id) ?? { recipients: 0, sent: 0, failed: 0 }),
    )
  }

  async function get(id: string): Promise<Campaign> {
    const row = await campaigns.findById(id)
    if (row === undefined) throw notFound()
    const [campaign] = await withCounts([row])
    if (campaign === undefined) throw notFound()
    return campaign
  }

  /**
   * One chunk per transaction, with a turn of the event loop between chunks, so queuing
   * 100,000 mails never holds the loop (or SQLite's one connection) for long. The cursor is
   * committed with its chunk: a crash loses at most the chunk in progress, which is redone.
   */
  async function queueAll(id: string): Promise<void> {
    for (;;) {
      if (stopped) return
      const done = await db.transaction().execute(async (trx) => {
        const repo = createCampaignsRepository(trx)
        const after = await repo.lockQueuing(id)
        if (after === undefined) return true
        const now = nowIso()
        const trxOutbox = createOutboxRepository(trx, outboxOptions)
        const through = await trxOutbox.enqueueCampaignChunk(id, after, deps.queueChunk, now)
        if (through !== null) {
          await repo.setQueuedThrough(id, through)
          return false
        }
        await repo.setStatus(id, 'sending')
        // Nobody to send to, or everything already went: done at once.
        await trxOutbox.finishCampaigns([id], now)
        return true
      })
      deps.mailQueued()
      if (done) return
      await nextTurn()
    }
  }

  function queueInBackground(id: string): void {
    if (stopped || queuing.has(id)) return
    const run = queueAll(id)
      .catch((error: unknown) => {
        deps.log.error({ err: error, campaign: id }, 'queuing the campaign failed; retrying')
        setTimeout(() => {
          queuing.delete(id)
          queueInBackground(id)
        }, 1000).unref()
        return 'retry' as const
      })
      .then((outcome) => {
        if (outcome !== 'retry') queuing.delete(id)
      })
    queuing.set(id, run)
  }

  return {
    async create(input: CampaignCreate): Promise<Campaign> {
      const row = {
        id: uuidv7(),
        subject: input.subject,
        text: input.text,
        status: 'draft' as const,
        created_at: nowIso(),
        sent_at: null,
        queued_through: '',
      }
      await campaigns.insert(row)
      return toCampaign(row, { recipients: 0, sent: 0, failed: 0 })
    },

    get,

    async list(query: { limit: number; cursor?: string | undefined }): Promise<Page<Campaign>> {
      const after =
        query.cursor === undefined ? null : String(deps.cursors.decode(query.cursor, 1)[0])
      const rows = await campaigns.list(query.limit, after)
      const kept = rows.slice(0, query.limit)
      const items = await withCounts(kept)
      const last = kept[kept.length - 1]
      return {
        items,
        next_cursor:
          rows.length > query.limit && last !== undefined ? deps.cursors.encode([last.id]) : null,
      }
    },

    /**
     * Marks the campaign 'queuing' and answers at once; the mails are queued in the
     * background, a chunk of subscribers per transaction. Calling it again queues only
     * subscribers who have no row yet (unique per campaign and subscriber), so nobody gets the
     * campaign twice.
     */
    async send(id: string): Promise<Campaign> {
      await db.transaction().execute(async (trx) => {
        const repo = createCampaignsRepository(trx)
        const row = await repo.findById(id)
        if (row === undefined) throw notFound()
        // Already queuing: that run (here, in another instance, or one resumed after a crash)
        // covers everyone confirmed so far.
        if (row.status !== 'queuing') await repo.startQueuing(id)
      })
      queueInBackground(id)
      return get(id)
    },

    /** Carries on queuing every campaign left 'queuing' (by a crash, or another instance). */
    async resumeQueuing(): Promise<void> {
      for (const id of await campaigns.queuingIds()) queueInBackground(id)
    },

    /** Stops queuing after the current chunk; the rest is resumed on the next start. */
    async stop(): Promise<void> {
      stopped = true
      await Promise.all(queuing.values())
    },
  }
}
