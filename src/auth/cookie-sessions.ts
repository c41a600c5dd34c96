import { createHmac, timingSafeEqual } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Caller } from '../core/caller.js'
import { hashToken } from '../core/opaque-tokens.js'
import type { IdentityCache } from './identity-cache.js'
import type { Revocations } from './revocations.js'
import type { SessionsRepository } from './sessions.repository.js'

// last_used_at is for people reviewing their sessions: a minute's precision is plenty, and
// saves a write per request.
const TOUCH_EVERY_MS = 60_000

interface KnownCookie {
  readonly sessionId: string
  readonly userId: string
  readonly expiresAt: number
  readonly csrfToken: string
  touchedAt: number
}

export type CookieSessions = ReturnType<typeof createCookieSessions>

/**
 * Who a session cookie belongs to (API.md §3 "Cookie sessions"), and the CSRF token bound to
 * its session. A cookie found once is remembered by its hash; whether its session has ended is
 * asked of the revocations on every request, as for an access token's `sid`, so an ended
 * session (logout, DELETE, a password change, disabling) stops its cookie at once, here and,
 * through Redis or the database, on every other instance.
 */
export function createCookieSessions(deps: {
  sessions: SessionsRepository
  revocations: Revocations
  identities: IdentityCache
  /** Keys the CSRF tokens: only this service can make one for a session. */
  secret: Buffer
}) {
  const { sessions, revocations, identities } = deps
  const known = new LRUCache<string, KnownCookie>({ max: 10_000 })

  /** HMAC of the session id: bound to the session, and nobody without the secret can make one. */
  function csrfTokenOf(sessionId: string): string {
    return createHmac('sha256', deps.secret)
      .update('gh_csrf\0')
      .update(sessionId)
      .digest('base64url')
  }

  async function find(cookieHash: string, now: number): Promise<KnownCookie | undefined> {
    const cached = known.get(cookieHash)
    if (cached !== undefined) return cached
    const row = await sessions.findLiveByCookie(cookieHash, new Date(now).toISOString())
    if (row === undefined) return undefined
    const found = {
      sessionId: row.id,
      userId: row.user_id,
      expiresAt: Date.parse(row.expires_at),
      csrfToken: csrfTokenOf(row.id),
      touchedAt: Date.parse(row.last_used_at),
    }
    known.set(cookieHash, found)
    return found
  }

  return {
    csrfTokenOf,

    /** Whether `token` is the CSRF token of the cookie session `caller` (constant time). */
    csrfTokenMatches(caller: Caller, token: string): boolean {
      if (caller.csrfToken === undefined) return false
      const expected = Buffer.from(caller.csrfToken)
      const given = Buffer.from(token)
      return given.length === expected.length && timingSafeEqual(given, expected)
    },

    /** The caller of a session cookie, or undefined when it names no live session of an active user. */
    async callerOf(cookie: string): Promise<Caller | undefined> {
      const cookieHash = hashToken(cookie)
      const now = Date.now()
      const session = await find(cookieHash, now)
      if (session === undefined) return undefined
      if (session.expiresAt <= now || (await revocations.isSessionRevoked(session.sessionId))) {
        known.delete(cookieHash)
        return undefined
      }
      const principal = await identities.principal(session.userId)
      if (principal === undefined || principal.disabled) return undefined
      if (now - session.touchedAt >= TOUCH_EVERY_MS) {
        session.touchedAt = now
        await sessions.touch(session.sessionId, new Date(now).toISOString())
      }
      return {
        principal,
        scheme: 'cookie',
        sessionId: session.sessionId,
        csrfToken: session.csrfToken,
      }
    },
  }
}

/** The web UI's two cookies (API.md §3); `__Host-` and `Secure` when PUBLIC_URL is https. */
export interface SessionCookieNames {
  readonly session: string
  readonly csrf: string
  readonly secure: boolean
}

export function sessionCookieNames(publicUrl: string): SessionCookieNames {
  const secure = new URL(publicUrl).protocol === 'https:'
  return { session: secure ? '__Host-gh_session' : 'gh_session', csrf: 'gh_csrf', secure }
}
