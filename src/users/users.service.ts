import type { Kysely } from 'kysely'
import type { AuditLog } from '../audit/audit.repository.js'
import { createApiKeysRepository } from '../auth/api-keys.repository.js'
import type { IdentityCache } from '../auth/identity-cache.js'
import type { Revocations } from '../auth/revocations.js'
import type { SessionsRepository } from '../auth/sessions.repository.js'
import { AppError } from '../core/errors.js'
import { type CursorCodec, type Page, pageById } from '../core/pagination.js'
import { nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import { createUsersRepository } from './users.repository.js'
import { toUser, type User, type UserPatch } from './users.schemas.js'
import type { UserRowUpdate } from './users.table.js'

const userNotFound = () => new AppError('USER_NOT_FOUND', 'No such user')
const lastAdmin = () =>
  new AppError('LAST_ADMIN', 'The last active admin cannot be demoted, disabled or deleted')

export type UsersService = ReturnType<typeof createUsersService>

export function createUsersService(deps: {
  db: Kysely<Database>
  identities: IdentityCache
  sessions: SessionsRepository
  revocations: Revocations
  audit: AuditLog
  cursors: CursorCodec
  /** Told after a user and what they owned were deleted (the todo list cache listens). */
  onUserDeleted?: (id: string) => void
  /** Told the hashes of API keys deleted with a user or on disabling (the key cache listens). */
  onApiKeysRevoked?: (keyHashes: readonly string[]) => void
}) {
  const { db, identities, audit } = deps
  const users = createUsersRepository(db)

  /**
   * Applies a change inside one transaction; the last-admin rule is checked against the
   * committed state, so two admins demoting each other at once cannot both succeed.
   */
  async function change(
    id: string,
    patch: UserPatch,
    precondition: ((current: User) => void) | undefined,
    alongside?: (trx: Kysely<Database>, before: User, after: User) => Promise<void>,
  ): Promise<{ before: User; after: User }> {
    const result = await db.transaction().execute(async (trx) => {
      const repo = createUsersRepository(trx)
      // Lock before reading, so the row and the count are what concurrent writers committed.
      const mayRemoveAdmin = patch.role === 'user' || patch.disabled === true
      const activeAdmins = mayRemoveAdmin ? await repo.lockActiveAdmins() : 0
      const row = await repo.findById(id)
      if (row === undefined) throw userNotFound()
      const before = toUser(row)
      precondition?.(before)
      const losesAdmin = mayRemoveAdmin && before.role === 'admin' && !before.disabled
      if (losesAdmin && activeAdmins <= 1) throw lastAdmin()
      const changes: UserRowUpdate = { updated_at: nowIso() }
      if (patch.name !== undefined) changes.name = patch.name
      if (patch.role !== undefined) changes.role = patch.role
      if (patch.disabled !== undefined) changes.disabled = patch.disabled ? 1 : 0
      const updated = await repo.update(id, changes)
      if (updated === undefined) throw userNotFound()
      const after = toUser(updated)
      await alongside?.(trx, before, after)
      return { before, after }
    })
    identities.forget(id)
    return result
  }

  /** Deletes a user's API keys inside `trx`, with their audit event; returns their hashes. */
  async function revokeApiKeys(
    trx: Kysely<Database>,
    actorId: string,
    userId: string,
  ): Promise<string[]> {
    const keyHashes = await createApiKeysRepository(trx).deleteForUser(userId)
    if (keyHashes.length > 0) {
      await audit.record(
        'api_key.revoke',
        actorId,
        { user_id: userId, count: String(keyHashes.length) },
        trx,
      )
    }
    return keyHashes
  }

  return {
    async get(id: string): Promise<User> {
      const row = await users.findById(id)
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

    /** A user's own change (name only); `precondition` sees the current version (If-Match). */
    async update(
      id: string,
      patch: { name: string },
      precondition?: (current: User) => void,
    ): Promise<User> {
      return (await change(id, patch, precondition)).after
    },

    async adminUpdate(
      actorId: string,
      id: string,
      patch: UserPatch,
      precondition?: (current: User) => void,
    ): Promise<User> {
      let revoked: string[] = []
      const { before, after } = await change(id, patch, precondition, async (trx, _was, is) => {
        // API.md §9: disabling revokes every API key for good, so re-enabling revives none.
        if (is.disabled) revoked = await revokeApiKeys(trx, actorId, id)
      })
      deps.onApiKeysRevoked?.(revoked)
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
        if (after.disabled) {
          // Also end the sessions, so re-enabling later does not revive old tokens.
          await deps.revocations.sessionsRevoked(await deps.sessions.revoke(id, nowIso()))
        }
      }
      return after
    },

    async delete(
      actorId: string,
      id: string,
      precondition?: (current: User) => void,
    ): Promise<void> {
      let deleting = false
      let revoked: string[] = []
      try {
        await db.transaction().execute(async (trx) => {
          const repo = createUsersRepository(trx)
          const activeAdmins = await repo.lockActiveAdmins()
          const row = await repo.findById(id)
          if (row === undefined) throw userNotFound()
          precondition?.(toUser(row))
          if (row.role === 'admin' && row.disabled === 0 && activeAdmins <= 1) throw lastAdmin()
          deleting = true
          // Deleted here rather than by the cascade, to count them and drop them from the cache.
          revoked = await revokeApiKeys(trx, actorId, id)
          // Sessions and todos go with the user (ON DELETE CASCADE).
          await repo.delete(id)
        })
      } finally {
        // Once the delete was sent, also on failure: it may have committed though answering failed.
        if (deleting) deps.onUserDeleted?.(id)
        deps.onApiKeysRevoked?.(revoked)
      }
      identities.forget(id)
      await audit.record('user.delete', actorId, { user_id: id })
    },
  }
}
