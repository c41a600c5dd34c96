import type { Kysely, Selectable } from 'kysely'
import type { Database } from '../database.js'
import { isUniqueViolation } from './db.js'
import type { IdempotencyKeysTable } from './idempotency.table.js'

export type IdempotencyKeyRow = Selectable<IdempotencyKeysTable>

export type IdempotencyKeysRepository = ReturnType<typeof createIdempotencyKeysRepository>

export function createIdempotencyKeysRepository(db: Kysely<Database>) {
  const byKey = (caller: string, key: string) =>
    db.deleteFrom('idempotency_keys').where('caller', '=', caller).where('key', '=', key)

  return {
    /** Inserts an in-flight claim; false when the caller already has a row for this key. */
    async claim(caller: string, key: string, requestHash: string): Promise<boolean> {
      try {
        await db
          .insertInto('idempotency_keys')
          .values({
            caller,
            key,
            request_hash: requestHash,
            status_code: 0,
            headers: '{}',
            body: '',
            created_at: new Date().toISOString(),
          })
          .execute()
        return true
      } catch (error) {
        if (!isUniqueViolation(error)) throw error
        return false
      }
    },
    find(caller: string, key: string): Promise<IdempotencyKeyRow | undefined> {
      return db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('caller', '=', caller)
        .where('key', '=', key)
        .executeTakeFirst()
    },
    /** Deletes the row, or with `createdAt` only that version of it (a takeover of a stale one). */
    async delete(caller: string, key: string, createdAt?: string): Promise<void> {
      const where = byKey(caller, key)
      await (createdAt === undefined ? where : where.where('created_at', '=', createdAt)).execute()
    },
    /** Records the first response, sealed, for replays. */
    async store(
      caller: string,
      key: string,
      response: Pick<IdempotencyKeyRow, 'status_code' | 'headers' | 'body'>,
    ): Promise<void> {
      await db
        .updateTable('idempotency_keys')
        .set(response)
        .where('caller', '=', caller)
        .where('key', '=', key)
        .execute()
    },
    async deleteCreatedBefore(instant: string): Promise<void> {
      await db.deleteFrom('idempotency_keys').where('created_at', '<', instant).execute()
    },
  }
}
