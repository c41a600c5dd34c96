import type { Kysely } from 'kysely'
import type { Database } from '../database.js'
import type { CampaignRow, CampaignStatus, NewCampaignRow } from './campaigns.table.js'

export type CampaignsRepository = ReturnType<typeof createCampaignsRepository>

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
  }
}
