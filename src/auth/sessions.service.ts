import type { Kysely } from 'kysely'
import { uuidv7 } from 'uuidv7'
import { createAuditLog } from '../audit/audit.repository.js'
import type { Caller, Role } from '../core/caller.js'
import type { DialectName } from '../core/db.js'
import { AppError } from '../core/errors.js'
import { hashToken, randomToken } from '../core/opaque-tokens.js'
import { type CursorCodec, type Page, pageNewestFirst } from '../core/pagination.js'
import { isoAfterSeconds, nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import { createUsersRepository } from '../users/users.repository.js'
import type { UserRow } from '../users/users.table.js'
import { type MfaRequired, type Session, type TokenPair, toSession } from './auth.schemas.js'
import type { AuthChanges } from './auth-changes.js'
import type { AuthEvents } from './auth-events.js'
import type { ClientInfo } from './client-info.js'
import type { IdentityCache } from './identity-cache.js'
import type { PasswordCheck } from './password-check.js'
import type { Revocations } from './revocations.js'
import { createSessionsRepository } from './sessions.repository.js'
import type { AccessTokenIssuer } from './tokens.js'

const invalidRefreshToken = (detail: string) => new AppError('INVALID_REFRESH_TOKEN', detail)

const noSessionToEnd = (detail: string) => new AppError('NO_SESSION_TO_END', detail)

export type SessionsService = ReturnType<typeof createSessionsService>

/** How long an `mfa_token` lasts, seconds (API.md §10). */
export const MFA_TOKEN_TTL = 300

/** A cookie session just started: the cookie's value is shown once, kept only as a hash. */
export interface CookieSession {
  cookie: string
  sessionId: string
  expiresAt: string
}

/** The two-factor feature's part in a login (app.ts wires it): the code step's token. */
export interface SecondFactorGate {
  /** `user` gave the right password and has two-factor on: an `mfa_token` for the code. */
  challenge(user: UserRow, kind: 'tokens' | 'cookie'): Promise<string>
}

/** A session is one refresh-token family: login starts it, refresh rotates it, logout ends it. */
export function createSessionsService(deps: {
  db: Kysely<Database>
  dialect: DialectName
  passwords: PasswordCheck
  identities: IdentityCache
  revocations: Revocations
  accessTokens: AccessTokenIssuer
  accessTokenTtl: number
  refreshTokenTtl: number
  /** Signs the session list's cursors (core/pagination.ts). */
  cursors: CursorCodec
  /** Other processes' changes to principals, seen before one is read here. */
  changes: AuthChanges
  secondFactor: SecondFactorGate
  events: AuthEvents
}) {
  const { db, passwords, identities, revocations, accessTokens, events } = deps
  const sessions = createSessionsRepository(db)
  const audit = createAuditLog(db)

  async function issuePair(
    userId: string,
    role: Role,
    sessionId: string,
    refreshToken: string,
  ): Promise<TokenPair> {
    const { token } = await accessTokens.issue({ userId, sessionId, role })
    return {
      access_token: token,
      token_type: 'Bearer',
      expires_in: deps.accessTokenTtl,
      refresh_token: refreshToken,
    }
  }

  /** Ends a user's live sessions (`ids`, or all) but `keep`; their access tokens stop at once. */
  async function end(
    userId: string,
    options: { ids?: readonly string[]; keep?: string },
  ): Promise<string[]> {
    const ended = await sessions.revoke(userId, nowIso(), options)
    await revocations.sessionsRevoked(ended)
    return ended
  }

  async function checkPassword(
    input: { username: string; password: string },
    client: ClientInfo,
    scheme: 'password' | 'form',
  ): Promise<UserRow> {
    let user: UserRow | undefined
    try {
      user = await passwords.signIn(input.username, input.password, client, scheme)
    } catch (error) {
      if (error instanceof AppError && error.code === 'RATE_LIMITED') events.login('rate_limited')
      throw error
    }
    if (user === undefined) {
      events.login('failure')
      throw new AppError('INVALID_CREDENTIALS', 'Invalid username or password')
    }
    return user
  }

  /**
   * Starts a session for `user`: with its first refresh token, or with the hash of its cookie.
   * `still` says whether the account, read again inside the transaction, is still as it was
   * when the credentials were checked.
   */
  async function open(
    user: UserRow,
    client: ClientInfo,
    scheme: 'password' | 'form',
    credential: { refreshTokenHash: string } | { cookieHash: string },
    still: (account: UserRow) => boolean,
    audited: Record<string, string> = {},
  ): Promise<{ role: Role; sessionId: string; expiresAt: string }> {
    const now = nowIso()
    const sessionId = uuidv7()
    // The family's absolute end: rotation never extends it.
    const expiresAt = isoAfterSeconds(deps.refreshTokenTtl)
    // The session, its first token and the audit event: one commit, not three.
    const role = await db.transaction().execute(async (trx) => {
      // The account as the password was checked against it, held until the session commits:
      // a password change or a disable that came first refuses this login, and one that comes
      // after waits, then ends this session with the others. Without it a login racing one
      // kept a session that the old password opened (and that enabling again would revive).
      const account = await createUsersRepository(trx, deps.dialect).findForShare(user.id)
      if (account === undefined || account.disabled !== 0 || !still(account)) {
        throw new AppError('INVALID_CREDENTIALS', 'Invalid username or password')
      }
      const repo = createSessionsRepository(trx)
      await repo.insert({
        id: sessionId,
        user_id: user.id,
        created_at: now,
        last_used_at: now,
        expires_at: expiresAt,
        user_agent: client.userAgent?.slice(0, 512) ?? null,
        revoked_at: null,
        cookie_hash: 'cookieHash' in credential ? credential.cookieHash : null,
      })
      if ('refreshTokenHash' in credential) {
        await repo.insertRefreshToken(
          sessionId,
          { id: uuidv7(), token_hash: credential.refreshTokenHash },
          now,
        )
      }
      await createAuditLog(trx).record('login.success', user.id, {
        ip: client.ip,
        session_id: sessionId,
        scheme,
        ...audited,
      })
      return account.role
    })
    events.login('success')
    return { role, sessionId, expiresAt }
  }

  const samePassword = (user: UserRow) => (account: UserRow) =>
    account.password_hash === user.password_hash

  async function tokensFor(
    user: UserRow,
    client: ClientInfo,
    still: (account: UserRow) => boolean,
    audited?: Record<string, string>,
  ): Promise<TokenPair> {
    const refreshToken = randomToken()
    const { role, sessionId } = await open(
      user,
      client,
      'password',
      { refreshTokenHash: hashToken(refreshToken) },
      still,
      audited,
    )
    return issuePair(user.id, role, sessionId, refreshToken)
  }

  async function cookieSessionFor(
    user: UserRow,
    client: ClientInfo,
    still: (account: UserRow) => boolean,
    audited?: Record<string, string>,
  ): Promise<CookieSession> {
    const cookie = randomToken()
    const { sessionId, expiresAt } = await open(
      user,
      client,
      'form',
      { cookieHash: hashToken(cookie) },
      still,
      audited,
    )
    return { cookie, sessionId, expiresAt }
  }

  /**
   * After a second factor: the account must still have the password the `mfa_token` was
   * issued for, and two-factor still on.
   */
  const stillAfterSecondFactor = (passwordChangedAt: string) => (account: UserRow) =>
    account.password_changed_at === passwordChangedAt && account.mfa_enabled === 1

  return {
    /** A token pair; for a user with two-factor on, the `mfa_token` of the code step instead. */
    async login(
      input: { username: string; password: string },
      client: ClientInfo,
    ): Promise<TokenPair | MfaRequired> {
      const user = await checkPassword(input, client, 'password')
      if (user.mfa_enabled === 1) {
        return {
          mfa_required: true,
          mfa_token: await deps.secondFactor.challenge(user, 'tokens'),
          expires_in: MFA_TOKEN_TTL,
        }
      }
      return tokensFor(user, client, samePassword(user))
    },

    /**
     * Signs in for the web UI (`POST /login`): a session like a refresh family, found by the
     * hash of its cookie. Returns the cookie's value (shown once, kept only as a hash), or for a
     * user with two-factor on the `mfa_token` of the code step.
     */
    async startCookieSession(
      input: { username: string; password: string },
      client: ClientInfo,
    ): Promise<CookieSession | { mfaToken: string }> {
      const user = await checkPassword(input, client, 'form')
      if (user.mfa_enabled === 1) {
        return { mfaToken: await deps.secondFactor.challenge(user, 'cookie') }
      }
      return cookieSessionFor(user, client, samePassword(user))
    },

    /** The token pair of a login whose second factor the two-factor feature has checked. */
    loginAfterSecondFactor(
      user: UserRow,
      passwordChangedAt: string,
      client: ClientInfo,
      method: string,
    ): Promise<TokenPair> {
      return tokensFor(user, client, stillAfterSecondFactor(passwordChangedAt), { mfa: method })
    },

    /** The cookie session of a web sign-in whose second factor has been checked. */
    cookieSessionAfterSecondFactor(
      user: UserRow,
      passwordChangedAt: string,
      client: ClientInfo,
      method: string,
    ): Promise<CookieSession> {
      return cookieSessionFor(user, client, stillAfterSecondFactor(passwordChangedAt), {
        mfa: method,
      })
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
          const ended = await end(session.user_id, { ids: [session.id] })
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
      await deps.changes.catchUp()
      const principal = await identities.principal(session.user_id)
      if (principal === undefined || principal.disabled)
        throw invalidRefreshToken('The session has ended')
      const next = randomToken()
      await db.transaction().execute(async (trx) => {
        const repo = createSessionsRepository(trx)
        await repo.insertRefreshToken(
          session.id,
          { id: uuidv7(), token_hash: hashToken(next) },
          now,
        )
        await repo.touch(session.id, now)
      })
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
      if (caller.claims !== undefined) await revocations.revokeAccessToken(caller.claims)
      // A token's session or a cookie's; Basic has none.
      if (caller.sessionId !== undefined) ids.push(caller.sessionId)
      if (refreshToken !== undefined) {
        const session = await sessions.sessionOfRefreshToken(hashToken(refreshToken))
        if (session !== undefined && session.user_id === caller.principal.id) ids.push(session.id)
      }
      // Basic has no session of its own: it ends the session its refresh_token names, if any
      // (API.md §3: logout answers 204; only an API key is refused, §9).
      await end(caller.principal.id, { ids })
      await audit.record('logout', caller.principal.id, { scheme: caller.scheme })
    },

    /** The caller's live sessions, newest first, a page at a time. */
    list(
      caller: Caller,
      query: { limit: number; cursor?: string | undefined },
    ): Promise<Page<Session>> {
      const now = nowIso()
      return pageNewestFirst(
        deps.cursors,
        'sessions',
        query,
        (before) => sessions.listLive(caller.principal.id, now, { limit: query.limit + 1, before }),
        (row) => toSession(row, caller.sessionId),
      )
    },

    async end(caller: Caller, sessionId: string): Promise<void> {
      const ended = await end(caller.principal.id, { ids: [sessionId] })
      if (ended.length === 0) {
        throw new AppError('SESSION_NOT_FOUND', 'No such live session')
      }
      await audit.record('session.revoke', caller.principal.id, { session_id: sessionId })
    },

    async endOthers(caller: Caller): Promise<void> {
      const ended = await end(
        caller.principal.id,
        caller.sessionId === undefined ? {} : { keep: caller.sessionId },
      )
      if (ended.length > 0) {
        await audit.record('session.revoke', caller.principal.id, { count: String(ended.length) })
      }
    },

    /** Every live session of a user but `keep` ends (a password change, disabling). */
    async endAll(userId: string, keep?: string): Promise<void> {
      await end(userId, keep === undefined ? {} : { keep })
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
