import { type Kysely, sql } from 'kysely'
import type { Database } from '../database.js'
import type { CampaignRow, CampaignStatus, NewCampaignRow } from './campaigns.table.js'

export type CampaignsRepository = ReturnType<typeof createCampaignsRepository>

export interface CampaignCounts {
  recipients: number
  sent: number
  failed: number
}

export function createCampaignsRepository(db: Kysely<Database>) {
  return {
    findById(id: string): Promise<CampaignRow | undefined> {
      return db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst()
    },
    async insert(row: NewCampaignRow): Promise<void> {
      await db.insertInto('campaigns').values(row).execute()
    },
    async setStatus(id: string, status: CampaignStatus): Promise<void> {
      await db.updateTable('campaigns').set({ status }).where('id', '=', id).execute()
    },
    /** (Re)starts queuing from the first subscriber. */
    async startQueuing(id: string): Promise<void> {
      await db
        .updateTable('campaigns')
        .set({ status: 'queuing', queued_through: '' })
        .where('id', '=', id)
        .execute()
    },
    /**
     * The cursor of a campaign still queuing, read with a write: the row stays locked to
     * this transaction on PostgreSQL (a second instance queuing the same campaign waits, then
     * reads the cursor this one leaves), and SQLite takes its write lock before the read.
     */
    async lockQueuing(id: string): Promise<string | undefined> {
      const row = await db
        .updateTable('campaigns')
        .set({ status: 'queuing' })
        .where('id', '=', id)
        .where('status', '=', 'queuing')
        .returning('queued_through')
        .executeTakeFirst()
      return row?.queued_through
    },
    async setQueuedThrough(id: string, subscriberId: string): Promise<void> {
      await db
        .updateTable('campaigns')
        .set({ queued_through: subscriberId })
        .where('id', '=', id)
        .execute()
    },
    async queuingIds(): Promise<string[]> {
      const rows = await db
        .selectFrom('campaigns')
        .select('id')
        .where('status', '=', 'queuing')
        .execute()
      return rows.map((row) => row.id)
    },
    /** Keyset page in id order (UUIDv7: creation order). */
    list(limit: number, after: string | null): Promise<CampaignRow[]> {
      let query = db
        .selectFrom('campaigns')
        .selectAll()
        .orderBy('id')
        .limit(limit + 1)
      if (after !== null) query = query.where('id', '>', after)
      return query.execute()
    },
    /**
     * A campaign's outbox rows for the confirmed subscribers with an id after `after`, up to
     * `size` of them, in id order; returns the last subscriber id this chunk covers, or null
     * when it reached the end. The unique (campaign, subscriber) index makes a repeated chunk
     * add nothing twice. Ids and Message-IDs are derived from the pair, so they are stable
     * across retries and crashes.
     */
    async queueChunk(chunk: {
      campaignId: string
      after: string
      size: number
      now: string
      messageIdHost: string
    }): Promise<string | null> {
      const { campaignId, after, now, messageIdHost } = chunk
      const bound = await db
        .selectFrom('subscribers')
        .select('id')
        .where('status', '=', 'confirmed')
        .where('id', '>', after)
        .orderBy('id')
        .limit(1)
        .offset(chunk.size - 1)
        .executeTakeFirst()
      let recipients = db
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
      if (bound !== undefined) recipients = recipients.where('s.id', '<=', bound.id)
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
        .expression(recipients)
        .onConflict((oc) => oc.columns(['campaign_id', 'subscriber_id']).doNothing())
        .execute()
      return bound?.id ?? null
    },
    /** Exact counts, straight from the outbox rows. */
    async counts(campaignIds: readonly string[]): Promise<Map<string, CampaignCounts>> {
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
    /** `sending` → `sent` for each of these campaigns that has no pending mail left. */
    async finish(campaignIds: readonly string[], now: string): Promise<void> {
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
  }
}
