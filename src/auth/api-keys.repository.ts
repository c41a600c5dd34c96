import type { Kysely } from 'kysely'
import type { Database } from '../database.js'
import type { ApiKeyRow } from './auth.table.js'

export type ApiKeysRepository = ReturnType<typeof createApiKeysRepository>

export function createApiKeysRepository(db: Kysely<Database>) {
  return {
    async insert(row: ApiKeyRow): Promise<void> {
      await db.insertInto('api_keys').values(row).execute()
    },
    findByHash(keyHash: string): Promise<ApiKeyRow | undefined> {
      return db
        .selectFrom('api_keys')
        .selectAll()
        .where('key_hash', '=', keyHash)
        .executeTakeFirst()
    },
    listForUser(userId: string): Promise<ApiKeyRow[]> {
      return db
        .selectFrom('api_keys')
        .selectAll()
        .where('user_id', '=', userId)
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .execute()
    },
    /** Returns the deleted key's hash, so the service can drop it from the lookup cache. */
    async delete(userId: string, id: string): Promise<string | undefined> {
      const row = await db
        .deleteFrom('api_keys')
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .returning('key_hash')
        .executeTakeFirst()
      return row?.key_hash
    },
    /** Deletes every key of a user; returns how many there were. */
    async deleteForUser(userId: string): Promise<number> {
      const result = await db
        .deleteFrom('api_keys')
        .where('user_id', '=', userId)
        .executeTakeFirst()
      return Number(result.numDeletedRows)
    },
    async touch(id: string, at: string): Promise<void> {
      await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute()
    },
  }
}
