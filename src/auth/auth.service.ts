import { uuidv7 } from 'uuidv7'
import type { AuditLog } from '../audit/audit.repository.js'
import { isUniqueViolation } from '../core/db.js'
import { AppError, validationFailed } from '../core/errors.js'
import { DATE_TIME_FORM } from '../core/schemas.js'
import { instantOfDateTime, isoAfterSeconds, isoOf, nowIso } from '../core/time.js'
import type { UsersRepository } from '../users/users.repository.js'
import { toUser, type User } from '../users/users.schemas.js'
import type { Role } from '../users/users.table.js'
import type { ApiKeysRepository } from './api-keys.repository.js'
import type { CredentialGuard } from './credential-guard.js'
import type { IdentityCache, Principal } from './identity-cache.js'
import {
  checkPasswordPolicy,
  type HashLane,
  hashPassword,
  prepareDummyHash,
  verifyPassword,
} from './passwords.js'
import type { Revocations } from './revocations.js'
import type { SessionsRepository } from './sessions.repository.js'
import { type AccessClaims, type AccessTokenIssuer, hashToken, randomToken } from './tokens.js'

export interface TokenPair {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
}

export interface SessionView {
  id: string
  created_at: string
  last_used_at: string
  user_agent: string | null
  current: boolean
}

export interface ApiKeyView {
  id: string
  name: string
  prefix: string
  created_at: string
  expires_at: string | null
  last_used_at: string | null
}

/** How the caller proved who they are; the auth plugin fills it in. */
export interface Caller {
  readonly principal: Principal
  readonly scheme: 'bearer' | 'basic' | 'api_key' | 'cookie' | 'query'
  /** Present for access tokens. */
  readonly claims?: AccessClaims
}

export interface ClientInfo {
  readonly ip: string
  /** What limits count the client by: the IPv4 address, or the IPv6 /64 (core/client-address.ts). */
  readonly address: string
  readonly userAgent: string | undefined
}

const invalidCredentials = () => new AppError('INVALID_CREDENTIALS', 'Invalid username or password')

const invalidRefreshToken = (detail: string) => new AppError('INVALID_REFRESH_TOKEN', detail)

const noSessionToEnd = (detail: string) => new AppError('NO_SESSION_TO_END', detail)

const API_KEY_PREFIX = 'gh_'
// Record an API key's use (last_used_at and an audit event) at most this often per key.
const API_KEY_TOUCH_INTERVAL_MS = 60_000

export type AuthService = ReturnType<typeof createAuthService>

export function createAuthService(deps: {
  users: UsersRepository
  sessions: SessionsRepository
  apiKeys: ApiKeysRepository
  audit: AuditLog
  identities: IdentityCache
  revocations: Revocations
  accessTokens: AccessTokenIssuer
  guard: CredentialGuard
  accessTokenTtl: number
  refreshTokenTtl: number
  passwordMinLength: number
  /** Other instances share the database: cached API keys are checked against it on each use. */
  shared: boolean
}) {
  const { users, sessions, apiKeys, audit, identities, revocations, accessTokens, guard } = deps
  void prepareDummyHash()
  const apiKeyCache = new Map<
    string,
    { id: string; userId: string; expiresAt: number | null; touchedAt: number }
  >()
  // Bumped by forgetApiKeys: a lookup that read a key before it was deleted must not cache it.
  let apiKeyForgets = 0

  /** Call after the keys are deleted from the database. */
  function forgetApiKeys(keyHashes: readonly string[]): void {
    apiKeyForgets += 1
    for (const keyHash of keyHashes) apiKeyCache.delete(keyHash)
  }

  function issuePair(
    userId: string,
    role: Role,
    sessionId: string,
    refreshToken: string,
  ): TokenPair {
    const { token } = accessTokens.issue({ userId, sessionId, role })
    return {
      access_token: token,
      token_type: 'Bearer',
      expires_in: deps.accessTokenTtl,
      refresh_token: refreshToken,
    }
  }

  /**
   * One password check of `account` from `client`, counted by the guard: a 429 before any work
   * when a limit holds; the check itself waits for argon2 in the client's lane.
   */
  async function guardedCheck(
    account: string,
    client: ClientInfo,
    check: (lane: HashLane) => Promise<boolean>,
  ): Promise<boolean> {
    const attempt = await guard.begin(account, client.address)
    let ok: boolean
    try {
      ok = await check(attempt.lane)
    } catch (error) {
      await attempt.abandoned()
      throw error
    }
    await (ok ? attempt.succeeded() : attempt.failed())
    return ok
  }

  async function endSessions(
    userId: string,
    options: { ids?: readonly string[]; keep?: string },
  ): Promise<string[]> {
    const ended = await sessions.revoke(userId, nowIso(), options)
    await revocations.sessionsRevoked(ended)
    return ended
  }

  return {
    async register(input: { username: string; password: string; name: string }): Promise<User> {
      checkPasswordPolicy(input.password, deps.passwordMinLength, 'password')
      const now = nowIso()
      const row = {
        id: uuidv7(),
        username: input.username,
        name: input.name,
        password_hash: await hashPassword(input.password),
        role: 'user' as const,
        disabled: 0,
        created_at: now,
        updated_at: now,
        password_changed_at: now,
      }
      try {
        await users.insert(row)
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new AppError('USERNAME_TAKEN', 'That username is already taken')
        }
        throw error
      }
      return toUser(row)
    },

    /** Creates the configured admin once; an existing user of that name is left as it is. */
    async ensureAdmin(admin: { username: string; password: string }): Promise<void> {
      if ((await users.findByUsername(admin.username)) !== undefined) return
      const now = nowIso()
      try {
        await users.insert({
          id: uuidv7(),
          username: admin.username,
          name: admin.username,
          password_hash: await hashPassword(admin.password),
          role: 'admin',
          disabled: 0,
          created_at: now,
          updated_at: now,
          password_changed_at: now,
        })
      } catch (error) {
        // Another instance starting at the same moment created it first.
        if (!isUniqueViolation(error)) throw error
      }
    },

    /** Same answer, and the same argon2 work, for an unknown user and a wrong password. */
    async login(
      input: { username: string; password: string },
      client: ClientInfo,
    ): Promise<TokenPair> {
      let row: Awaited<ReturnType<UsersRepository['findByUsername']>>
      let passwordOk = false
      const ok = await guardedCheck(input.username, client, async (lane) => {
        row = await users.findByUsername(input.username)
        passwordOk = await verifyPassword(row?.password_hash, input.password, lane)
        return passwordOk && row?.disabled === 0
      })
      if (!ok || row === undefined) {
        await audit.record('login.failure', row?.id ?? null, {
          username: input.username,
          ip: client.ip,
          scheme: 'password',
          reason: row === undefined ? 'unknown_user' : passwordOk ? 'disabled' : 'wrong_password',
        })
        throw invalidCredentials()
      }
      const user = row
      const now = nowIso()
      const refreshToken = randomToken()
      const sessionId = uuidv7()
      await sessions.create(
        {
          id: sessionId,
          user_id: user.id,
          created_at: now,
          last_used_at: now,
          // The family's absolute end: rotation never extends it.
          expires_at: isoAfterSeconds(deps.refreshTokenTtl),
          user_agent: client.userAgent?.slice(0, 512) ?? null,
          revoked_at: null,
        },
        { id: uuidv7(), token_hash: hashToken(refreshToken) },
        (trx) =>
          audit.record('login.success', user.id, { ip: client.ip, session_id: sessionId }, trx),
      )
      return issuePair(user.id, user.role, sessionId, refreshToken)
    },

    async refresh(refreshToken: string, client: ClientInfo): Promise<TokenPair> {
      const tokenHash = hashToken(refreshToken)
      const now = nowIso()
      const consumed = await sessions.consumeRefreshToken(tokenHash, now)
      if (consumed === 'unknown') throw invalidRefreshToken('The refresh token is invalid')
      if (consumed === 'used') {
        // A used token presented again means it leaked: end the whole family (RFC 9700 §4.14.2).
        const session = await sessions.sessionOfRefreshToken(tokenHash)
        if (session !== undefined) {
          const ended = await endSessions(session.user_id, { ids: [session.id] })
          if (ended.length > 0) {
            await audit.record('refresh.reuse', session.user_id, {
              session_id: session.id,
              ip: client.ip,
            })
          }
        }
        throw invalidRefreshToken('The refresh token was already used; the session has ended')
      }
      const session = await sessions.findById(consumed.sessionId)
      if (session === undefined || session.revoked_at !== null) {
        throw invalidRefreshToken('The session has ended')
      }
      if (session.expires_at <= now) throw invalidRefreshToken('The session has expired')
      const principal = await identities.principal(session.user_id)
      if (principal === undefined || principal.disabled)
        throw invalidRefreshToken('The session has ended')
      const next = randomToken()
      await sessions.addRefreshToken(session.id, { id: uuidv7(), token_hash: hashToken(next) }, now)
      return issuePair(principal.id, principal.role, session.id, next)
    },

    /**
     * Ends the caller's session (and the one of `refreshToken`, if it is theirs); revokes the
     * access token. A 204 that ended nothing would tell the client it is signed out: an API key
     * ends only by DELETE (API.md §9), and Basic credentials have no session, so they may only
     * name one by its refresh token.
     */
    async logout(caller: Caller, refreshToken: string | undefined): Promise<void> {
      if (caller.scheme === 'api_key') {
        throw noSessionToEnd(
          'An API key has no session to log out of; it ends only by DELETE /api/v1/profile/api-keys/{id}',
        )
      }
      const ids: string[] = []
      if (caller.claims !== undefined) {
        await revocations.revokeAccessToken(caller.claims)
        ids.push(caller.claims.sid)
      }
      if (refreshToken !== undefined) {
        const session = await sessions.sessionOfRefreshToken(hashToken(refreshToken))
        if (session !== undefined && session.user_id === caller.principal.id) ids.push(session.id)
      }
      const ended = await endSessions(caller.principal.id, { ids })
      if (caller.scheme === 'basic' && ended.length === 0) {
        throw noSessionToEnd(
          'Basic credentials have no session to log out of; send the refresh_token of a live session of yours to end it',
        )
      }
      await audit.record('logout', caller.principal.id, { scheme: caller.scheme })
    },

    async changePassword(
      caller: Caller,
      currentPassword: string,
      newPassword: string,
      client: ClientInfo,
    ): Promise<void> {
      const row = await users.findById(caller.principal.id)
      const ok =
        row !== undefined &&
        (await guardedCheck(row.username, client, (lane) =>
          verifyPassword(row.password_hash, currentPassword, lane),
        ))
      if (row === undefined || !ok) {
        await audit.record('login.failure', caller.principal.id, {
          username: caller.principal.username,
          ip: client.ip,
          scheme: 'current_password',
          reason: 'wrong_password',
        })
        throw new AppError('WRONG_PASSWORD', 'current_password is not correct')
      }
      checkPasswordPolicy(newPassword, deps.passwordMinLength, 'new_password')
      const now = nowIso()
      await users.update(row.id, {
        password_hash: await hashPassword(newPassword),
        password_changed_at: now,
        updated_at: now,
      })
      identities.forget(row.id)
      await endSessions(row.id, caller.claims === undefined ? {} : { keep: caller.claims.sid })
      await audit.record('password.change', row.id, {})
    },

    async listSessions(caller: Caller): Promise<SessionView[]> {
      const rows = await sessions.listLive(caller.principal.id, nowIso())
      return rows.map((row) => ({
        id: row.id,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        user_agent: row.user_agent,
        current: row.id === caller.claims?.sid,
      }))
    },

    async endSession(caller: Caller, sessionId: string): Promise<void> {
      const ended = await endSessions(caller.principal.id, { ids: [sessionId] })
      if (ended.length === 0) {
        throw new AppError('SESSION_NOT_FOUND', 'No such live session')
      }
      await audit.record('session.revoke', caller.principal.id, { session_id: sessionId })
    },

    async endOtherSessions(caller: Caller): Promise<void> {
      const ended = await endSessions(
        caller.principal.id,
        caller.claims === undefined ? {} : { keep: caller.claims.sid },
      )
      if (ended.length > 0) {
        await audit.record('session.revoke', caller.principal.id, { count: String(ended.length) })
      }
    },

    async createApiKey(
      caller: Caller,
      input: { name: string; expires_at?: string | undefined },
    ): Promise<ApiKeyView & { key: string }> {
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
      await apiKeys.insert(row, (trx) =>
        audit.record(
          'api_key.create',
          caller.principal.id,
          { api_key_id: row.id, prefix: row.prefix },
          trx,
        ),
      )
      return {
        id: row.id,
        name: row.name,
        key,
        prefix: row.prefix,
        created_at: row.created_at,
        expires_at: row.expires_at,
        last_used_at: null,
      }
    },

    async listApiKeys(caller: Caller): Promise<ApiKeyView[]> {
      const rows = await apiKeys.listForUser(caller.principal.id)
      return rows.map((row) => ({
        id: row.id,
        name: row.name,
        prefix: row.prefix,
        created_at: row.created_at,
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
      }))
    },

    async deleteApiKey(caller: Caller, id: string): Promise<void> {
      const keyHash = await apiKeys.delete(caller.principal.id, id)
      if (keyHash === undefined) throw new AppError('API_KEY_NOT_FOUND', 'No such API key')
      forgetApiKeys([keyHash])
      await audit.record('api_key.revoke', caller.principal.id, { api_key_id: id })
    },

    forgetApiKeys,

    /** The user behind an API key, or undefined when it is unknown or expired. */
    async principalOfApiKey(key: string, client: ClientInfo): Promise<Principal | undefined> {
      if (!key.startsWith(API_KEY_PREFIX)) return undefined
      const keyHash = hashToken(key)
      let entry = apiKeyCache.get(keyHash)
      // Another instance may have deleted the key: with others around, the database decides.
      if (entry === undefined || deps.shared) {
        const forgets = apiKeyForgets
        const row = await apiKeys.findByHash(keyHash)
        if (row === undefined) {
          apiKeyCache.delete(keyHash)
          return undefined
        }
        entry ??= {
          id: row.id,
          userId: row.user_id,
          expiresAt: row.expires_at === null ? null : Date.parse(row.expires_at),
          touchedAt: 0,
        }
        if (apiKeyCache.size >= 10_000) apiKeyCache.clear()
        if (forgets === apiKeyForgets) apiKeyCache.set(keyHash, entry)
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

    /**
     * Basic credentials: from the cache of recent successes, else one argon2 verification; both
     * under the guard's limits, and every failure audited like a failed login.
     */
    async principalOfBasic(
      username: string,
      password: string,
      client: ClientInfo,
    ): Promise<Principal | undefined> {
      const remembered = identities.verifiedCredential(username, password)
      if (remembered !== undefined) {
        const principal = await identities.principal(remembered.userId)
        if (
          principal !== undefined &&
          principal.passwordChangedAt === remembered.passwordChangedAt
        ) {
          await guard.check(username, client.address)
          return principal
        }
      }
      let row: Awaited<ReturnType<UsersRepository['findByUsername']>>
      const ok = await guardedCheck(username, client, async (lane) => {
        row = await users.findByUsername(username)
        return verifyPassword(row?.password_hash, password, lane)
      })
      if (!ok || row === undefined) {
        await audit.record('login.failure', row?.id ?? null, {
          username: username.slice(0, 64),
          ip: client.ip,
          scheme: 'basic',
          reason: row === undefined ? 'unknown_user' : 'wrong_password',
        })
        return undefined
      }
      const principal = await identities.principal(row.id)
      if (principal !== undefined) identities.rememberCredential(username, password, principal)
      return principal
    },

    async pruneExpired(): Promise<void> {
      const now = Date.now()
      await sessions.purgeExpired(
        new Date(now).toISOString(),
        new Date(now - 7 * 86_400_000).toISOString(),
      )
      revocations.prune()
    },
  }
}
