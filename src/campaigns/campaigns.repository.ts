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
