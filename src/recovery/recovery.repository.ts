import type { Kysely } from 'kysely'
import type { Database } from '../database.js'
import type { AccountTokenPurpose, NewAccountTokenRow } from './recovery.table.js'

export type AccountTokensRepository = ReturnType<typeof createAccountTokensRepository>

/** The single-use links of accounts; `db` may be a transaction. */
export function createAccountTokensRepository(db: Kysely<Database>) {
  return {
    async insert(row: NewAccountTokenRow): Promise<void> {
      await db.insertInto('account_tokens').values(row).execute()
    },

    /**
     * Spends a token: only an unused, unexpired one of `purpose`, and only once even when two
     * requests race (the `used_at is null` condition is part of the write).
     */
    async use(
      hash: string,
      purpose: AccountTokenPurpose,
      now: string,
    ): Promise<{ userId: string; email: string } | undefined> {
      const row = await db
        .updateTable('account_tokens')
        .set({ used_at: now })
        .where('token_hash', '=', hash)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .where('user_id', 'is not', null)
        .returning(['user_id', 'email'])
        .executeTakeFirst()
      return row?.user_id == null ? undefined : { userId: row.user_id, email: row.email }
    },

    /** Every unused link of `purpose` dies (a reset done, an address verified or replaced). */
    async spendAll(userId: string, purpose: AccountTokenPurpose, now: string): Promise<void> {
      await db
        .updateTable('account_tokens')
        .set({ used_at: now })
        .where('user_id', '=', userId)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .execute()
    },

    /** Links of `purpose` made for the user since `since` (the per-account limit on resets). */
    async countSince(
      userId: string | null,
      purpose: AccountTokenPurpose,
      since: string,
    ): Promise<number> {
      const row = await db
        .selectFrom('account_tokens')
        .select((eb) => eb.fn.countAll<number | string>().as('count'))
        .where('user_id', userId === null ? 'is' : '=', userId)
        .where('purpose', '=', purpose)
        .where('created_at', '>', since)
        .executeTakeFirstOrThrow()
      return Number(row.count)
    },

    async deleteExpired(now: string): Promise<void> {
      await db.deleteFrom('account_tokens').where('expires_at', '<', now).execute()
    },
  }
}
