import type { Kysely } from 'kysely'
import { createAuditLog } from '../audit/audit.repository.js'
import { checkPreconditions, type Preconditions } from '../core/conditional.js'
import type { DialectName } from '../core/db.js'
import { AppError } from '../core/errors.js'
import { type CursorCodec, type Page, pageById } from '../core/pagination.js'
import { nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import { createUsersRepository } from './users.repository.js'
import { normaliseEmail, toUser, type User, type UserPatch } from './users.schemas.js'
import type { UserRow, UserRowUpdate } from './users.table.js'

const userNotFound = () => new AppError('USER_NOT_FOUND', 'No such user')
const lastAdmin = () =>
  new AppError('LAST_ADMIN', 'The last active admin cannot be demoted, disabled or deleted')

/**
 * What other features do when an account changes; the wiring file connects them, so this
 * feature knows none of them (credentials, caches of users and their todos).
 */
export interface UsersEvents {
  /** After any change committed: what was cached of the user is stale. */
  changed(id: string): void
  /**
   * Inside the transaction that disables (or deletes) the user, so that what must end with
   * the account commits with it: API.md §9, its API keys end for good. `by` is the admin.
   */
  disabling(id: string, by: string, trx: Kysely<Database>): Promise<void>
  /** After disabling committed: what ends with the account but is not a row of it (sessions). */
  disabled(id: string): Promise<void>
  /** After a delete was sent: also on failure, as it may have committed though answering failed. */
  deleted(id: string): void
  /**
   * Inside the transaction of a change that names an address (`email` in the patch), so the
   * mails it causes (a link to the new address, a notice to the old) commit with it.
   */
  emailChanged(before: UserRow, after: UserRow, trx: Kysely<Database>): Promise<void>
}

/** What a change may touch: the admin's fields, and the user's own address. */
type AccountPatch = UserPatch & { email?: string | null }

/**
 * A new address is stored unverified; the same address again (in any case) keeps its state, so
 * a PATCH that repeats the profile verifies nothing away.
 */
function emailChanges(row: UserRow, email: string | null): UserRowUpdate {
  if (email === null) return { email: null, email_normalised: null, email_verified: 0 }
  const stored = email.normalize('NFC')
  const normalised = normaliseEmail(stored)
  if (normalised === row.email_normalised) return { email: stored }
  return { email: stored, email_normalised: normalised, email_verified: 0 }
}

export type UsersService = ReturnType<typeof createUsersService>

export function createUsersService(deps: {
  db: Kysely<Database>
  dialect: DialectName
  cursors: CursorCodec
  events: UsersEvents
}) {
  const { db, dialect, events } = deps
  const users = createUsersRepository(db, dialect)
  const audit = createAuditLog(db)

  /**
   * Applies a change inside one transaction; the last-admin rule and the preconditions are
   * checked against the committed state, with the row locked until the write, so two admins
   * demoting each other at once cannot both succeed, nor two writes naming one version.
   * `by`: the admin making it (a user's own change disables nothing).
   */
  async function change(
    id: string,
    patch: AccountPatch,
    preconditions: Preconditions | undefined,
    by?: string,
  ): Promise<{ before: User; after: User }> {
    const result = await db.transaction().execute(async (trx) => {
      const repo = createUsersRepository(trx, dialect)
      // Lock before reading, so the row and the count are what concurrent writers committed;
      // the admins first, then the row, as delete does: one order of locks, so no deadlock.
      const mayRemoveAdmin = patch.role === 'user' || patch.disabled === true
      const activeAdmins = mayRemoveAdmin ? await repo.lockActiveAdmins() : 0
      const row = await repo.findForUpdate(id)
      if (row === undefined) throw userNotFound()
      const before = toUser(row)
      checkPreconditions(preconditions, before)
      const losesAdmin = mayRemoveAdmin && before.role === 'admin' && !before.disabled
      if (losesAdmin && activeAdmins <= 1) throw lastAdmin()
      const changes: UserRowUpdate = { updated_at: nowIso() }
      if (patch.name !== undefined) changes.name = patch.name
      if (patch.role !== undefined) changes.role = patch.role
      if (patch.disabled !== undefined) changes.disabled = patch.disabled ? 1 : 0
      if (patch.email !== undefined) Object.assign(changes, emailChanges(row, patch.email))
      const updated = await repo.update(id, changes)
      if (updated === undefined) throw userNotFound()
      const after = toUser(updated)
      if (patch.email !== undefined) await events.emailChanged(row, updated, trx)
      if (by !== undefined && after.disabled) await events.disabling(id, by, trx)
      return { before, after }
    })
    events.changed(id)
    return result
  }

  return {
    async get(id: string): Promise<User> {
      const row = await users.findById(id)
      if (row === undefined) throw userNotFound()
      return toUser(row)
    },

    async findByUsername(username: string): Promise<User> {
      const row = await users.findByUsername(username)
      if (row === undefined) throw userNotFound()
      return toUser(row)
    },

    async list(query: {
      limit: number
      cursor?: string | undefined
      q?: string | undefined
    }): Promise<Page<User>> {
      return pageById(
        deps.cursors,
        query,
        (after) => users.list({ limit: query.limit, after, q: query.q }),
        toUser,
      )
    },

    /**
     * A user's own change (name, address); `preconditions` are checked against the current
     * version. A new address is unverified until its link is used (API.md §10).
     */
    async update(
      id: string,
      patch: { name?: string | undefined; email?: string | null | undefined },
      preconditions?: Preconditions,
    ): Promise<User> {
      return (await change(id, patch, preconditions)).after
    },

    async adminUpdate(
      actorId: string,
      id: string,
      patch: UserPatch,
      preconditions?: Preconditions,
    ): Promise<User> {
      const { before, after } = await change(id, patch, preconditions, actorId)
      if (before.role !== after.role) {
        await audit.record('role.change', actorId, {
          user_id: id,
          from: before.role,
          to: after.role,
        })
      }
      if (before.disabled !== after.disabled) {
        await audit.record(after.disabled ? 'user.disable' : 'user.enable', actorId, {
          user_id: id,
        })
      }
      if (after.disabled) await events.disabled(id)
      return after
    },

    async delete(actorId: string, id: string, preconditions?: Preconditions): Promise<void> {
      let deleting = false
      try {
        await db.transaction().execute(async (trx) => {
          const repo = createUsersRepository(trx, dialect)
          const activeAdmins = await repo.lockActiveAdmins()
          const row = await repo.findForUpdate(id)
          if (row === undefined) throw userNotFound()
          checkPreconditions(preconditions, toUser(row))
          if (row.role === 'admin' && row.disabled === 0 && activeAdmins <= 1) throw lastAdmin()
          deleting = true
          // Ended here rather than by the cascade, to audit them with the delete.
          await events.disabling(id, actorId, trx)
          // Sessions and todos go with the user (ON DELETE CASCADE).
          await repo.delete(id)
        })
      } finally {
        if (deleting) events.deleted(id)
      }
      await audit.record('user.delete', actorId, { user_id: id })
    },
  }
}
