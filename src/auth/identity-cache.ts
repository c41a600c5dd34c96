import { createHmac, randomBytes } from 'node:crypto'
import type { Principal } from '../core/caller.js'
import type { UsersRepository } from '../users/users.repository.js'

const MAX_ENTRIES = 10_000

function boundedSet<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= MAX_ENTRIES) {
    const oldest = map.keys().next()
    if (!oldest.done) map.delete(oldest.value)
  }
  map.set(key, value)
}

export type IdentityCache = ReturnType<typeof createIdentityCache>

/**
 * Per-process caches that keep a database read and an argon2 verification off the hot path.
 * Every change to a user goes through `forget`, so role, disabled state and password changes
 * take effect on the next request: this process's own changes directly, those of other
 * processes on the same SQLite file through the change journal (auth-changes.ts). When other
 * instances share the database without such a journal (`shared`: PostgreSQL, or Redis), a change
 * made there never reaches this cache, so principals are read from the database each time; the
 * Basic cache stays safe as it is checked against the principal's `passwordChangedAt`.
 */
export function createIdentityCache(users: UsersRepository, options: { shared: boolean }) {
  const principals = new Map<string, Principal>()
  // Bumped by `forget`: a read that started before a change must not cache the old row.
  const generations = new Map<string, number>()
  let forgets = 0
  let forgottenAll = 0
  // Basic credentials that verified recently, under a keyed hash (never the password itself);
  // the key lives only in this process's memory.
  const credentialKey = randomBytes(32)
  const credentials = new Map<string, { userId: string; passwordChangedAt: string }>()
  const credentialsByUser = new Map<string, Set<string>>()

  const credentialDigest = (username: string, password: string) =>
    createHmac('sha256', credentialKey)
      .update(username)
      .update('\0')
      .update(password)
      .digest('base64url')

  return {
    async principal(id: string): Promise<Principal | undefined> {
      const cached = principals.get(id)
      if (cached !== undefined) return cached
      const generation = generations.get(id)
      const forgottenAllBefore = forgottenAll
      const row = await users.findById(id)
      if (row === undefined) return undefined
      const principal: Principal = {
        id: row.id,
        username: row.username,
        name: row.name,
        role: row.role,
        disabled: row.disabled === 1,
        passwordChangedAt: row.password_changed_at,
        mfaEnabled: row.mfa_enabled === 1,
      }
      if (
        !options.shared &&
        generations.get(id) === generation &&
        forgottenAll === forgottenAllBefore
      ) {
        principals.delete(id)
        boundedSet(principals, id, principal)
      }
      return principal
    },
    /** The user id of Basic credentials that verified before and have not changed since. */
    verifiedCredential(
      username: string,
      password: string,
    ): { userId: string; passwordChangedAt: string } | undefined {
      return credentials.get(credentialDigest(username, password))
    },
    rememberCredential(username: string, password: string, principal: Principal): void {
      const digest = credentialDigest(username, password)
      boundedSet(credentials, digest, {
        userId: principal.id,
        passwordChangedAt: principal.passwordChangedAt,
      })
      let digests = credentialsByUser.get(principal.id)
      if (digests === undefined) {
        digests = new Set()
        boundedSet(credentialsByUser, principal.id, digests)
      }
      digests.add(digest)
    },
    forget(userId: string): void {
      principals.delete(userId)
      forgets += 1
      boundedSet(generations, userId, forgets)
      for (const digest of credentialsByUser.get(userId) ?? []) credentials.delete(digest)
      credentialsByUser.delete(userId)
    },
    /** Every user may have changed (the change journal could not say who). */
    forgetAll(): void {
      principals.clear()
      // A read that started before this must not cache what it read.
      forgottenAll += 1
      credentials.clear()
      credentialsByUser.clear()
    },
  }
}
