import type { Kysely } from 'kysely'
import { uuidv7 } from 'uuidv7'
import { createAuditLog } from '../audit/audit.repository.js'
import type { Caller, Principal } from '../core/caller.js'
import { checkPreconditions, type Preconditions } from '../core/conditional.js'
import type { DialectName } from '../core/db.js'
import { AppError, validationFailed } from '../core/errors.js'
import { hashToken, randomToken } from '../core/opaque-tokens.js'
import { type CursorCodec, type Page, pageNewestFirst } from '../core/pagination.js'
import { DATE_TIME_FORM } from '../core/schemas.js'
import { instantOfDateTime, isoOf, nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import { createUsersRepository } from '../users/users.repository.js'
import { createApiKeysRepository } from './api-keys.repository.js'
import { type ApiKey, type NewApiKey, toApiKey } from './auth.schemas.js'
import { badBasicCredentials } from './basic.js'
import type { ClientInfo } from './client-info.js'
import type { IdentityCache } from './identity-cache.js'
import { invalidToken } from './tokens.js'

export const API_KEY_PREFIX = 'gh_'
// Record an API key's use (last_used_at and an audit event) at most this often per key.
const API_KEY_TOUCH_INTERVAL_MS = 60_000
const MAX_CACHED_KEYS = 10_000

export type ApiKeysService = ReturnType<typeof createApiKeysService>

export function createApiKeysService(deps: {
  db: Kysely<Database>
  dialect: DialectName
  identities: IdentityCache
  /** Signs the key list's cursors (core/pagination.ts). */
  cursors: CursorCodec
  /**
   * Other instances share the database with no change journal (auth-changes.ts) to tell of
   * deleted keys: cached API keys are checked against it on each use.
   */
  shared: boolean
}) {
  const { db, identities } = deps
  const apiKeys = createApiKeysRepository(db)
  const audit = createAuditLog(db)
  const cache = new Map<
    string,
    { id: string; userId: string; expiresAt: number | null; touchedAt: number }
  >()
  // Bumped by every forget: a lookup that read a key before it was deleted must not cache it.
  let forgets = 0

  return {
    async create(
      caller: Caller,
      input: { name: string; expires_at?: string | undefined },
    ): Promise<NewApiKey> {
      // The schema admits only instants we can store; this parse is the same one (core/time.ts).
      const expiresAt =
        input.expires_at === undefined ? undefined : instantOfDateTime(input.expires_at)
      if (input.expires_at !== undefined && (expiresAt === undefined || expiresAt <= Date.now())) {
        const message = expiresAt === undefined ? DATE_TIME_FORM : 'must be in the future'
        throw validationFailed([{ path: 'body/expires_at', message }])
      }
      const key = API_KEY_PREFIX + randomToken()
      const row = {
        id: uuidv7(),
        user_id: caller.principal.id,
        name: input.name,
        prefix: key.slice(0, 11),
        key_hash: hashToken(key),
        created_at: nowIso(),
        expires_at: expiresAt === undefined ? null : isoOf(expiresAt),
        last_used_at: null,
      }
      // The key and its audit event: both are stored, or neither.
      await db.transaction().execute(async (trx) => {
        // The account held as enabled until the key commits: a disable that came first (after
        // this request was authenticated) refuses the key, as the next request would be, and
        // one that comes after waits, then revokes it with the others. Without it a key written
        // just after a disable outlived it, and worked again once the account was enabled.
        const owner = await createUsersRepository(trx, deps.dialect).findForShare(row.user_id)
        if (owner === undefined || owner.disabled !== 0) {
          throw caller.scheme === 'basic'
            ? badBasicCredentials()
            : invalidToken('The user is no longer active')
        }
        await createApiKeysRepository(trx).insert(row)
        await createAuditLog(trx).record('api_key.create', caller.principal.id, {
          api_key_id: row.id,
          prefix: row.prefix,
        })
      })
      return { ...toApiKey(row), key }
    },

    /** The caller's keys (never the keys themselves), newest first, a page at a time. */
    list(
      caller: Caller,
      query: { limit: number; cursor?: string | undefined },
    ): Promise<Page<ApiKey>> {
      return pageNewestFirst(
        deps.cursors,
        'api-keys',
        query,
        (before) => apiKeys.listForUser(caller.principal.id, { limit: query.limit + 1, before }),
        toApiKey,
      )
    },

    /** One of the caller's keys; another user's is as unknown as one that never was. */
    async get(caller: Caller, id: string): Promise<ApiKey> {
      const row = await apiKeys.findForUser(caller.principal.id, id)
      if (row === undefined) throw new AppError('API_KEY_NOT_FOUND', 'No such API key')
      return toApiKey(row)
    },

    /** Revokes one of the caller's keys; `preconditions` are checked against it as it goes. */
    async delete(caller: Caller, id: string, preconditions?: Preconditions): Promise<void> {
      const keyHash = await db.transaction().execute(async (trx) => {
        const repo = createApiKeysRepository(trx)
        const row = await repo.findForWrite(caller.principal.id, id, deps.dialect)
        if (row === undefined) throw new AppError('API_KEY_NOT_FOUND', 'No such API key')
        checkPreconditions(preconditions, toApiKey(row))
        await repo.delete(caller.principal.id, id)
        await createAuditLog(trx).record('api_key.revoke', caller.principal.id, { api_key_id: id })
        return row.key_hash
      })
      forgets += 1
      cache.delete(keyHash)
    },

    /**
     * Inside the transaction that disables or deletes a user: their keys end, with the audit
     * event of `actorId` ending them. Call `forgetUser` once it committed.
     */
    async revokeAllOf(userId: string, actorId: string, trx: Kysely<Database>): Promise<void> {
      const count = await createApiKeysRepository(trx).deleteForUser(userId)
      if (count > 0) {
        await createAuditLog(trx).record('api_key.revoke', actorId, {
          user_id: userId,
          count: String(count),
        })
      }
    },

    /** Drops a user's keys from the lookup cache; call after they are deleted from the database. */
    forgetUser(userId: string): void {
      forgets += 1
      for (const [keyHash, entry] of cache) if (entry.userId === userId) cache.delete(keyHash)
    },

    /** Any key may have been deleted (the change journal could not say whose). */
    forgetAll(): void {
      forgets += 1
      cache.clear()
    },

    /** The user behind an API key, or undefined when it is unknown or expired. */
    async principalOf(key: string, client: ClientInfo): Promise<Principal | undefined> {
      if (!key.startsWith(API_KEY_PREFIX)) return undefined
      const keyHash = hashToken(key)
      let entry = cache.get(keyHash)
      // Another instance may have deleted the key: with others around, the database decides.
      if (entry === undefined || deps.shared) {
        const forgetsBefore = forgets
        const row = await apiKeys.findByHash(keyHash)
        if (row === undefined) {
          cache.delete(keyHash)
          return undefined
        }
        entry ??= {
          id: row.id,
          userId: row.user_id,
          expiresAt: row.expires_at === null ? null : Date.parse(row.expires_at),
          touchedAt: 0,
        }
        if (cache.size >= MAX_CACHED_KEYS) cache.clear()
        if (forgetsBefore === forgets) cache.set(keyHash, entry)
      }
      const now = Date.now()
      if (entry.expiresAt !== null && entry.expiresAt <= now) return undefined
      if (now - entry.touchedAt >= API_KEY_TOUCH_INTERVAL_MS) {
        entry.touchedAt = now
        await apiKeys.touch(entry.id, new Date(now).toISOString())
        await audit.record('api_key.use', entry.userId, { api_key_id: entry.id, ip: client.ip })
      }
      return identities.principal(entry.userId)
    },
  }
}
