import type { Kysely } from 'kysely'
import { type DialectName, lockedForWrite } from '../core/db.js'
import type { NewestFirstPosition } from '../core/pagination.js'
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
    /** A user's keys newest first, `limit` of them below `before`. */
    listForUser(
      userId: string,
      page: { limit: number; before: NewestFirstPosition | null },
    ): Promise<ApiKeyRow[]> {
      let query = db.selectFrom('api_keys').selectAll().where('user_id', '=', userId)
      const { before } = page
      if (before !== null) {
        // The redundant `<=` bounds the (user_id, created_at) index range at the cursor.
        query = query
          .where('created_at', '<=', before.createdAt)
          .where((eb) => eb.or([eb('created_at', '<', before.createdAt), eb('id', '<', before.id)]))
      }
      return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute()
    },
    findForUser(userId: string, id: string): Promise<ApiKeyRow | undefined> {
      return db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .executeTakeFirst()
    },
    /** `findForUser`, the row held until the transaction ends (a write's `If-Match` check). */
    findForWrite(userId: string, id: string, dialect: DialectName): Promise<ApiKeyRow | undefined> {
      const query = db
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', id)
        .where('user_id', '=', userId)
      return lockedForWrite(query, dialect).executeTakeFirst()
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
