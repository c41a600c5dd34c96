import type { Kysely } from 'kysely'
import type { Database } from '../database.js'
import type { ApiKeyRow } from './auth.table.js'

export type ApiKeysRepository = ReturnType<typeof createApiKeysRepository>

export function createApiKeysRepository(db: Kysely<Database>) {
  return {
    /** `alongside` writes in the same transaction (the audit row): both are stored, or neither. */
    async insert(
      row: ApiKeyRow,
      alongside?: (trx: Kysely<Database>) => Promise<void>,
    ): Promise<void> {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('api_keys').values(row).execute()
        await alongside?.(trx)
      })
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
    /** Returns the deleted key's hash, so the caller can drop it from the lookup cache. */
    async delete(userId: string, id: string): Promise<string | undefined> {
      const row = await db
        .deleteFrom('api_keys')
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .returning('key_hash')
        .executeTakeFirst()
      return row?.key_hash
    },
    /** Deletes every key of a user; returns their hashes, for the lookup cache. */
    async deleteForUser(userId: string): Promise<string[]> {
      const rows = await db
        .deleteFrom('api_keys')
        .where('user_id', '=', userId)
        .returning('key_hash')
        .execute()
      return rows.map((row) => row.key_hash)
    },
    async touch(id: string, at: string): Promise<void> {
      await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute()
    },
  }
}
