import { type Kysely, sql } from 'kysely'
import { type DialectName, lockedForShare, lockedForWrite } from '../core/db.js'
import type { Database } from '../database.js'
import { normaliseEmail, USERNAME_PATTERN } from './users.schemas.js'
import type { NewUserRow, UserRow, UserRowUpdate } from './users.table.js'

const USERNAME = new RegExp(USERNAME_PATTERN)

export type UsersRepository = ReturnType<typeof createUsersRepository>

export function createUsersRepository(db: Kysely<Database>, dialect: DialectName) {
  return {
    findById(id: string): Promise<UserRow | undefined> {
      return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
    },
    /**
     * The row a write is about to change, locked until its transaction ends, so that what the
     * write checks (If-Match, the last-admin rule) is still true when it writes.
     */
    findForUpdate(id: string): Promise<UserRow | undefined> {
      const query = db.selectFrom('users').selectAll().where('id', '=', id)
      return lockedForWrite(query, dialect).executeTakeFirst()
    },
    /** The account whose verified address is `email` (unverified claims are not unique). */
    findByVerifiedEmail(email: string): Promise<UserRow | undefined> {
      return (
        db
          .selectFrom('users')
          .selectAll()
          .where('email_normalised', '=', normaliseEmail(email))
          // A literal, not a parameter: only then may SQLite use the partial unique index.
          .where('email_verified', '=', sql.lit(1))
          .executeTakeFirst()
      )
    },
    /**
     * Another account that holds `email`, verified or not (registration leaves such an address
     * off, API.md §10); a verified holder first, as its owner gets a different notice.
     */
    findEmailHolder(
      email: string,
      exceptId: string,
    ): Promise<Pick<UserRow, 'id' | 'email_verified'> | undefined> {
      return db
        .selectFrom('users')
        .select(['id', 'email_verified'])
        .where('email_normalised', '=', normaliseEmail(email))
        .where('id', '<>', exceptId)
        .orderBy('email_verified', 'desc')
        .limit(1)
        .executeTakeFirst()
    },
    findByUsername(username: string): Promise<UserRow | undefined> {
      // A name no account can have is not looked up: any text a client sends ends up here.
      if (!USERNAME.test(username)) return Promise.resolve(undefined)
      return db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst()
    },
    /**
     * The row, kept from changing until the transaction ends (FOR SHARE on PostgreSQL), for a
     * write elsewhere that holds only while the account is as read: a session, an API key. A
     * password change or a disable then waits for that write, and ends what it wrote.
     */
    findForShare(id: string): Promise<UserRow | undefined> {
      const query = db.selectFrom('users').selectAll().where('id', '=', id)
      return lockedForShare(query, dialect).executeTakeFirst()
    },
    async insert(row: NewUserRow): Promise<void> {
      await db.insertInto('users').values(row).execute()
    },
    update(id: string, changes: UserRowUpdate): Promise<UserRow | undefined> {
      return db
        .updateTable('users')
        .set(changes)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst()
    },
    /**
     * Sets a new password only while the stored hash is still `current`, the one the caller's
     * password was checked against; false when another change came in between.
     */
    async replacePassword(
      id: string,
      current: string,
      changes: Required<
        Pick<UserRowUpdate, 'password_hash' | 'password_changed_at' | 'updated_at'>
      >,
    ): Promise<boolean> {
      const result = await db
        .updateTable('users')
        .set(changes)
        .where('id', '=', id)
        .where('password_hash', '=', current)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },
    async delete(id: string): Promise<boolean> {
      const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst()
      return result.numDeletedRows > 0n
    },
    /**
     * Locks every active admin's row (a write that changes nothing) and counts them. Run first
     * in a transaction that may remove an admin: concurrent removals then queue on the locks
     * (PostgreSQL row locks; SQLite's write lock), and each counts what the other committed.
     */
    async lockActiveAdmins(): Promise<number> {
      const result = await db
        .updateTable('users')
        .set((eb) => ({ role: eb.ref('role') }))
        .where('role', '=', 'admin')
        .where('disabled', '=', 0)
        .executeTakeFirst()
      return Number(result.numUpdatedRows)
    },
    /** Keyset page in id order (UUIDv7: creation order); `q` matches username or name. */
    list(options: {
      limit: number
      after: string | null
      q: string | undefined
    }): Promise<UserRow[]> {
      let query = db
        .selectFrom('users')
        .selectAll()
        .orderBy('id')
        .limit(options.limit + 1)
      if (options.after !== null) query = query.where('id', '>', options.after)
      if (options.q !== undefined) {
        const pattern = `%${options.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
        query = query.where(
          sql<boolean>`(lower(username) like ${pattern} escape '\\' or lower(name) like ${pattern} escape '\\')`,
        )
      }
      return query.execute()
    },
  }
}
