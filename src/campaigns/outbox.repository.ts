import { type Kysely, sql } from 'kysely'
import { uuidv7 } from 'uuidv7'
import type { DialectName } from '../core/db.js'
import type { Database } from '../database.js'
import type { OutboxRow } from './campaigns.table.js'

export type OutboxRepository = ReturnType<typeof createOutboxRepository>

export interface CampaignCounts {
  recipients: number
  sent: number
  failed: number
}

/** The outbox: every mail is a row, written in the transaction of the change that causes it. */
export function createOutboxRepository(
  db: Kysely<Database>,
  options: { messageIdHost: string; dialect: DialectName },
) {
  const { messageIdHost } = options
  return {
    /** A one-off mail (confirmation, notice), rendered now; `db` may be a transaction. */
    async enqueueMail(
      mail: { name: string; email: string; subject: string; text: string },
      now: string,
    ): Promise<void> {
      const id = uuidv7()
      await db
        .insertInto('outbox')
        .values({
          id,
          kind: 'transactional',
          campaign_id: null,
          subscriber_id: null,
          recipient_name: mail.name,
          recipient_email: mail.email,
          message_id: `<${id}@${messageIdHost}>`,
          payload: JSON.stringify({ subject: mail.subject, text: mail.text }),
          status: 'pending',
          attempts: 0,
          next_attempt_at: now,
          lease_until: null,
          last_error: null,
          created_at: now,
          sent_at: null,
        })
        .execute()
    },

    /**
     * One row per confirmed subscriber with an id after `after`, up to `size` of them, in id
     * order; returns the last subscriber id this chunk covers, or null when it reached the end.
     * The unique (campaign, subscriber) index makes a repeated chunk add nothing twice. Ids and
     * Message-IDs are derived from the pair, so they are stable across retries and crashes.
     */
    async enqueueCampaignChunk(
      campaignId: string,
      after: string,
      size: number,
      now: string,
    ): Promise<string | null> {
      const bound = await db
        .selectFrom('subscribers')
        .select('id')
        .where('status', '=', 'confirmed')
        .where('id', '>', after)
        .orderBy('id')
        .limit(1)
        .offset(size - 1)
        .executeTakeFirst()
      let chunk = db
        .selectFrom('subscribers as s')
        .select([
          sql<string>`cast(${`${campaignId}:`} as text) || s.id`.as('id'),
          sql<string>`cast(${'campaign'} as text)`.as('kind'),
          sql<string>`cast(${campaignId} as text)`.as('campaign_id'),
          's.id as subscriber_id',
          's.name as recipient_name',
          's.email as recipient_email',
          sql<string>`cast(${`<${campaignId}.`} as text) || s.id || cast(${`@${messageIdHost}>`} as text)`.as(
            'message_id',
          ),
          sql<string>`cast(${''} as text)`.as('payload'),
          sql<string>`cast(${'pending'} as text)`.as('status'),
          sql<number>`0`.as('attempts'),
          sql<string>`cast(${now} as text)`.as('next_attempt_at'),
          sql<string>`cast(${now} as text)`.as('created_at'),
        ])
        .where('s.status', '=', 'confirmed')
        .where('s.id', '>', after)
      if (bound !== undefined) chunk = chunk.where('s.id', '<=', bound.id)
      await db
        .insertInto('outbox')
        .columns([
          'id',
          'kind',
          'campaign_id',
          'subscriber_id',
          'recipient_name',
          'recipient_email',
          'message_id',
          'payload',
          'status',
          'attempts',
          'next_attempt_at',
          'created_at',
        ])
        .expression(chunk)
        .onConflict((oc) => oc.columns(['campaign_id', 'subscriber_id']).doNothing())
        .execute()
      return bound?.id ?? null
    },

    /**
     * Claims up to `limit` due rows by pushing their due time to the end of a lease: a
     * worker that dies leaves them due again once the lease runs out. On PostgreSQL the
     * rows are locked with SKIP LOCKED, so two instances claiming at once take different
     * rows instead of one waiting for the other; SQLite has a single writer. (Repeating the
     * due conditions on the outer UPDATE made SQLite walk the whole due index for every
     * claim: about 20 ms at 100,000 queued mails, on the event loop.)
     */
    claim(limit: number, now: string, leaseUntil: string): Promise<OutboxRow[]> {
      let due = db
        .selectFrom('outbox')
        .select('id')
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .limit(limit)
      if (options.dialect === 'postgres') due = due.forUpdate().skipLocked()
      return db
        .updateTable('outbox')
        .set({
          next_attempt_at: leaseUntil,
          lease_until: leaseUntil,
          attempts: sql<number>`attempts + 1`,
        })
        .where('id', 'in', due)
        .returningAll()
        .execute()
    },

    /** Gives claimed rows back (graceful stop), so they need not wait out the lease. */
    async release(ids: readonly string[], now: string): Promise<void> {
      if (ids.length === 0) return
      await db
        .updateTable('outbox')
        .set({ next_attempt_at: now, lease_until: null, attempts: sql<number>`attempts - 1` })
        .where('id', 'in', [...ids])
        .where('status', '=', 'pending')
        .execute()
    },

    async markSent(ids: readonly string[], now: string): Promise<void> {
      if (ids.length === 0) return
      await db
        .updateTable('outbox')
        // The rendered text (which may hold a confirmation link) is not kept once delivered.
        .set({ status: 'sent', sent_at: now, lease_until: null, payload: '', last_error: null })
        .where('id', 'in', [...ids])
        .execute()
    },

    async retryLater(id: string, at: string, error: string): Promise<void> {
      await db
        .updateTable('outbox')
        .set({ next_attempt_at: at, lease_until: null, last_error: error })
        .where('id', '=', id)
        .execute()
    },

    async markFailed(id: string, error: string): Promise<void> {
      await db
        .updateTable('outbox')
        .set({ status: 'failed', lease_until: null, last_error: error, payload: '' })
        .where('id', '=', id)
        .execute()
    },

    /** Exact counts, straight from the rows. */
    async campaignCounts(campaignIds: readonly string[]): Promise<Map<string, CampaignCounts>> {
      const counts = new Map<string, CampaignCounts>()
      for (const id of campaignIds) counts.set(id, { recipients: 0, sent: 0, failed: 0 })
      if (campaignIds.length === 0) return counts
      const rows = await db
        .selectFrom('outbox')
        .select(['campaign_id', 'status', (eb) => eb.fn.countAll<number>().as('count')])
        .where('campaign_id', 'in', [...campaignIds])
        .groupBy(['campaign_id', 'status'])
        .execute()
      for (const row of rows) {
        const entry = row.campaign_id === null ? undefined : counts.get(row.campaign_id)
        if (entry === undefined) continue
        const n = Number(row.count)
        entry.recipients += n
        if (row.status === 'sent') entry.sent += n
        if (row.status === 'failed') entry.failed += n
      }
      return counts
    },

    /** `sending` → `sent` for each of these campaigns that has no pending row left. */
    async finishCampaigns(campaignIds: readonly string[], now: string): Promise<void> {
      if (campaignIds.length === 0) return
      await db
        .updateTable('campaigns')
        .set({ status: 'sent', sent_at: now })
        .where('id', 'in', [...campaignIds])
        .where('status', '=', 'sending')
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('outbox')
                .select('outbox.id')
                .whereRef('outbox.campaign_id', '=', 'campaigns.id')
                .where('outbox.status', '=', 'pending'),
            ),
          ),
        )
        .execute()
    },

    campaignContent(id: string): Promise<{ subject: string; text: string } | undefined> {
      return db
        .selectFrom('campaigns')
        .select(['subject', 'text'])
        .where('id', '=', id)
        .executeTakeFirst()
    },
  }
}
