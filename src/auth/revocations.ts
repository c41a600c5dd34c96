import type { Redis } from 'ioredis'
import type { AccessClaims } from '../core/caller.js'
import type { SessionsRepository } from './sessions.repository.js'

const LEEWAY_SECONDS = 30
const REDIS_PREFIX = 'gatehouse:revoked:'

export type Revocations = ReturnType<typeof createRevocations>

/**
 * Which unexpired access tokens no longer count: single tokens (logout) by `jti`, and every
 * token of an ended session by `sid`. Checked in memory on each request; the database is the
 * record, loaded at start so revocations survive a restart. With Redis (several instances),
 * each revocation is also a Redis key that lives as long as the tokens it refuses, and a token
 * this instance does not know as revoked is looked up there, so a logout on one instance
 * counts on every other at once. Without Redis but on a database other instances may share
 * (PostgreSQL, `checkDatabase`), the database is asked instead.
 */
export function createRevocations(
  sessions: SessionsRepository,
  accessTokenTtl: number,
  shared: { redis?: Redis | undefined; checkDatabase?: boolean } = {},
) {
  const { redis } = shared
  const revokedJtis = new Map<string, number>()
  const revokedSessions = new Map<string, number>()
  const nowSeconds = () => Math.floor(Date.now() / 1000)
  // A token of a session revoked at t can live until t + ttl (+ leeway): keep the sid that long.
  const sessionHorizon = () => nowSeconds() + accessTokenTtl + LEEWAY_SECONDS
  const jtiKey = (jti: string) => `${REDIS_PREFIX}jti:${jti}`
  const sidKey = (sid: string) => `${REDIS_PREFIX}sid:${sid}`

  return {
    async load(): Promise<void> {
      const now = new Date().toISOString()
      for (const row of await sessions.liveRevokedAccessTokens(now)) {
        revokedJtis.set(row.jti, Math.floor(Date.parse(row.expires_at) / 1000) + LEEWAY_SECONDS)
      }
      const since = new Date(Date.now() - (accessTokenTtl + LEEWAY_SECONDS) * 1000).toISOString()
      for (const row of await sessions.revokedSince(since)) {
        const revokedAt = Math.floor(Date.parse(row.revoked_at ?? now) / 1000)
        revokedSessions.set(row.id, revokedAt + accessTokenTtl + LEEWAY_SECONDS)
      }
    },
    async isRevoked(claims: AccessClaims): Promise<boolean> {
      if (revokedJtis.has(claims.jti) || revokedSessions.has(claims.sid)) return true
      if (redis !== undefined) {
        const [jti, sid] = await redis.mget(jtiKey(claims.jti), sidKey(claims.sid))
        return jti !== null || sid !== null
      }
      return shared.checkDatabase === true && sessions.isRevoked(claims.jti, claims.sid)
    },
    /** Whether the session `sid` has ended (a cookie session, which has no token to check). */
    async isSessionRevoked(sid: string): Promise<boolean> {
      if (revokedSessions.has(sid)) return true
      if (redis !== undefined) return (await redis.get(sidKey(sid))) !== null
      return shared.checkDatabase === true && sessions.isSessionRevoked(sid)
    },
    async revokeAccessToken(claims: AccessClaims): Promise<void> {
      await sessions.revokeAccessToken(claims.jti, new Date(claims.exp * 1000).toISOString())
      const until = claims.exp + LEEWAY_SECONDS
      revokedJtis.set(claims.jti, until)
      await redis?.set(jtiKey(claims.jti), '1', 'EX', Math.max(1, until - nowSeconds()))
    },
    /** Call after the sessions are marked revoked in the database. */
    async sessionsRevoked(ids: readonly string[]): Promise<void> {
      const until = sessionHorizon()
      for (const id of ids) revokedSessions.set(id, until)
      if (redis === undefined || ids.length === 0) return
      const pipeline = redis.pipeline()
      for (const id of ids) pipeline.set(sidKey(id), '1', 'EX', until - nowSeconds())
      await pipeline.exec()
    },
    /**
     * Revocations another process recorded in the database (SQLite's change journal,
     * auth-changes.ts): refused here from now on, with nothing written again.
     */
    revokedElsewhere(change: { jtis: readonly string[]; sids: readonly string[] }): void {
      // The journal has no expiry: a token lives at most its TTL from now.
      const until = sessionHorizon()
      for (const jti of change.jtis) revokedJtis.set(jti, until)
      for (const sid of change.sids) revokedSessions.set(sid, until)
    },
    prune(): void {
      const now = nowSeconds()
      for (const [jti, until] of revokedJtis) if (until < now) revokedJtis.delete(jti)
      for (const [sid, until] of revokedSessions) if (until < now) revokedSessions.delete(sid)
    },
  }
}
