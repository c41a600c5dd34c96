import { type Kysely, sql } from 'kysely'
import { type DialectName, lockedForWrite } from '../core/db.js'
import type { Database } from '../database.js'
import type {
  NewSubscriberRow,
  SubscriberRow,
  SubscriberRowUpdate,
  SubscriberStatus,
} from './subscribers.table.js'

export type SubscribersRepository = ReturnType<typeof createSubscribersRepository>

/** Emails compare case-insensitively: this is the form the unique index holds. */
export function normaliseEmail(email: string): string {
  return email.normalize('NFC').toLowerCase()
}

export function createSubscribersRepository(db: Kysely<Database>, dialect: DialectName) {
  return {
    findById(id: string): Promise<SubscriberRow | undefined> {
      return db.selectFrom('subscribers').selectAll().where('id', '=', id).executeTakeFirst()
    },
    /**
     * The row a write is about to change, locked until its transaction ends, so that what the
     * write checks (If-Match) is still true when it writes.
     */
    findForUpdate(id: string): Promise<SubscriberRow | undefined> {
      const query = db.selectFrom('subscribers').selectAll().where('id', '=', id)
      return lockedForWrite(query, dialect).executeTakeFirst()
    },
    /** By address, locked until the transaction ends: a signup decides by when it last mailed. */
    findByEmailForUpdate(email: string): Promise<SubscriberRow | undefined> {
      const query = db
        .selectFrom('subscribers')
        .selectAll()
        .where('email_normalised', '=', normaliseEmail(email))
      return lockedForWrite(query, dialect).executeTakeFirst()
    },
    findByUnsubscribeHash(hash: string): Promise<SubscriberRow | undefined> {
      return db
        .selectFrom('subscribers')
        .selectAll()
        .where('unsubscribe_token_hash', '=', hash)
        .executeTakeFirst()
    },
    /** Which of these normalised addresses are already known. */
    async knownEmails(normalised: readonly string[]): Promise<Set<string>> {
      if (normalised.length === 0) return new Set()
      const rows = await db
        .selectFrom('subscribers')
        .select('email_normalised')
        .where('email_normalised', 'in', [...normalised])
        .execute()
      return new Set(rows.map((row) => row.email_normalised))
    },
    async insert(row: NewSubscriberRow): Promise<void> {
      await db.insertInto('subscribers').values(row).execute()
    },
    /**
     * Inserts the rows whose address is not on the list, also when another transaction added
     * it since the caller looked (it waits for that one to commit); returns how many it inserted.
     */
    async insertNew(rows: readonly NewSubscriberRow[]): Promise<number> {
      if (rows.length === 0) return 0
      const inserted = await db
        .insertInto('subscribers')
        .values([...rows])
        .onConflict((oc) => oc.column('email_normalised').doNothing())
        .returning('id')
        .execute()
      return inserted.length
    },
    update(id: string, changes: SubscriberRowUpdate): Promise<SubscriberRow | undefined> {
      return db
        .updateTable('subscribers')
        .set(changes)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst()
    },
    async delete(id: string): Promise<boolean> {
      const result = await db.deleteFrom('subscribers').where('id', '=', id).executeTakeFirst()
      return result.numDeletedRows > 0n
    },
    async insertConfirmToken(token: {
      hash: string
      subscriberId: string
      now: string
      expiresAt: string
    }): Promise<void> {
      await db
        .insertInto('subscriber_tokens')
        .values({
          token_hash: token.hash,
          subscriber_id: token.subscriberId,
          purpose: 'confirm',
          created_at: token.now,
          expires_at: token.expiresAt,
          used_at: null,
        })
        .execute()
    },
    /**
     * Spends a confirmation token: only an unused, unexpired one, and only once even when
     * two requests race (the `used_at is null` condition is part of the write).
     */
    async useConfirmToken(hash: string, now: string): Promise<string | undefined> {
      const row = await db
        .updateTable('subscriber_tokens')
        .set({ used_at: now })
        .where('token_hash', '=', hash)
        .where('purpose', '=', 'confirm')
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returning('subscriber_id')
        .executeTakeFirst()
      return row?.subscriber_id
    },
    async deleteExpiredTokens(now: string): Promise<void> {
      await db.deleteFrom('subscriber_tokens').where('expires_at', '<', now).execute()
    },
    /** Keyset page in id order; `q` matches name or email. */
    async count(): Promise<number> {
      const row = await db
        .selectFrom('subscribers')
        .select((eb) => eb.fn.countAll<string | number>().as('count'))
        .executeTakeFirstOrThrow()
      return Number(row.count)
    },
    list(options: {
      limit: number
      after: string | null
      status: SubscriberStatus | undefined
      q: string | undefined
    }): Promise<SubscriberRow[]> {
      let query = db
        .selectFrom('subscribers')
        .selectAll()
        .orderBy('id')
        .limit(options.limit + 1)
      if (options.after !== null) query = query.where('id', '>', options.after)
      if (options.status !== undefined) query = query.where('status', '=', options.status)
      if (options.q !== undefined) {
        const pattern = `%${options.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
        query = query.where(
          sql<boolean>`(lower(name) like ${pattern} escape '\\' or email_normalised like ${pattern} escape '\\')`,
        )
      }
      return query.execute()
    },
  }
}
