import type { Redis } from 'ioredis'
import type { AccessClaims } from '../core/caller.js'
import type { SharedRedis } from '../core/redis.js'
import type { SessionsRepository } from './sessions.repository.js'

const LEEWAY_SECONDS = 30
const REDIS_PREFIX = 'gatehouse:revoked:'
// After Redis is caught up, the database is still asked this long: an instance that wrote a
// revocation while Redis was away writes it there within a second of Redis being back.
const CATCH_UP_GRACE_MS = 3000

export type Revocations = ReturnType<typeof createRevocations>

/**
 * Which unexpired access tokens no longer count: single tokens (logout) by `jti`, and every
 * token of an ended session by `sid`. Checked in memory on each request; the database is the
 * record, loaded at start so revocations survive a restart. With Redis (several instances),
 * each revocation is also a Redis key that lives as long as the tokens it refuses, and a token
 * this instance does not know as revoked is looked up there, so a logout on one instance
 * counts on every other at once. Without Redis but on a database other instances may share
 * (PostgreSQL, `checkDatabase`), the database is asked instead.
 *
 * Redis is trusted only while it holds every revocation: whenever it was away (a failed write
 * here, a reconnection, a restart that lost its keys) the database is asked — it fails closed —
 * until this instance has written every live revocation back and a grace period has passed.
 */
export function createRevocations(
  sessions: SessionsRepository,
  accessTokenTtl: number,
  shared: { redis?: SharedRedis | undefined; checkDatabase?: boolean } = {},
) {
  const { redis } = shared
  const revokedJtis = new Map<string, number>()
  const revokedSessions = new Map<string, number>()
  const nowSeconds = () => Math.floor(Date.now() / 1000)
  // A token of a session revoked at t can live until t + ttl (+ leeway): keep the sid that long.
  const sessionHorizon = () => nowSeconds() + accessTokenTtl + LEEWAY_SECONDS
  const jtiKey = (jti: string) => `${REDIS_PREFIX}jti:${jti}`
  const sidKey = (sid: string) => `${REDIS_PREFIX}sid:${sid}`
  // Until the first catch-up (on connecting) Redis may lack revocations made while it was away.
  let redisTrustedFrom = Number.POSITIVE_INFINITY
  /** Whether Redis alone may answer; when it may be tried but is not caught up, starts that. */
  const redisTrusted = () => {
    if (redis?.usable() !== true) return false
    if (redisTrustedFrom === Number.POSITIVE_INFINITY && catchingUp === undefined) {
      catchUp().catch(() => undefined)
    }
    return Date.now() >= redisTrustedFrom
  }
  // Counts distrust: a catch-up that a failed write overtook must not restore trust.
  let distrusts = 0
  const distrustRedis = () => {
    distrusts += 1
    redisTrustedFrom = Number.POSITIVE_INFINITY
  }

  let catchingUp: Promise<void> | undefined
  /** Every live revocation the database records, written to Redis (it may have restarted empty). */
  function catchUp(): Promise<void> {
    catchingUp ??= writeEveryRevocation().finally(() => {
      catchingUp = undefined
    })
    return catchingUp
  }
  async function writeEveryRevocation(): Promise<void> {
    if (redis === undefined) return
    distrustRedis()
    const generation = distrusts
    const now = nowSeconds()
    const tokens = await sessions.liveRevokedAccessTokens(new Date().toISOString())
    const since = new Date(Date.now() - (accessTokenTtl + LEEWAY_SECONDS) * 1000).toISOString()
    const ended = await sessions.revokedSince(since)
    await redis.run(async (client) => {
      const pipeline = client.pipeline()
      for (const row of tokens) {
        const until = Math.floor(Date.parse(row.expires_at) / 1000) + LEEWAY_SECONDS
        pipeline.set(jtiKey(row.jti), '1', 'EX', Math.max(1, until - now))
      }
      for (const row of ended) {
        const revokedAt =
          row.revoked_at === null ? now : Math.floor(Date.parse(row.revoked_at) / 1000)
        const until = revokedAt + accessTokenTtl + LEEWAY_SECONDS
        pipeline.set(sidKey(row.id), '1', 'EX', Math.max(1, until - now))
      }
      const results = await pipeline.exec()
      const failed = results?.find(([error]) => error !== null)
      if (failed !== undefined) throw failed[0]
    })
    if (distrusts === generation) redisTrustedFrom = Date.now() + CATCH_UP_GRACE_MS
  }
  redis?.onBack(catchUp)

  /** Writes to Redis; a write that cannot be made leaves Redis untrusted until the next catch-up. */
  async function writeToRedis(write: (client: Redis) => Promise<unknown>): Promise<void> {
    if (redis === undefined) return
    try {
      await redis.run(write)
    } catch {
      distrustRedis()
    }
  }

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
      if (redis !== undefined && redisTrusted()) {
        try {
          const [jti, sid] = await redis.run((client) =>
            client.mget(jtiKey(claims.jti), sidKey(claims.sid)),
          )
          return jti !== null || sid !== null
        } catch {
          distrustRedis()
        }
      }
      return (
        (redis !== undefined || shared.checkDatabase === true) &&
        sessions.isRevoked(claims.jti, claims.sid)
      )
    },
    /** Whether the session `sid` has ended (a cookie session, which has no token to check). */
    async isSessionRevoked(sid: string): Promise<boolean> {
      if (revokedSessions.has(sid)) return true
      if (redis !== undefined && redisTrusted()) {
        try {
          return (await redis.run((client) => client.get(sidKey(sid)))) !== null
        } catch {
          distrustRedis()
        }
      }
      return (
        (redis !== undefined || shared.checkDatabase === true) && sessions.isSessionRevoked(sid)
      )
    },
    async revokeAccessToken(claims: AccessClaims): Promise<void> {
      await sessions.revokeAccessToken(claims.jti, new Date(claims.exp * 1000).toISOString())
      const until = claims.exp + LEEWAY_SECONDS
      revokedJtis.set(claims.jti, until)
      await writeToRedis((client) =>
        client.set(jtiKey(claims.jti), '1', 'EX', Math.max(1, until - nowSeconds())),
      )
    },
    /** Call after the sessions are marked revoked in the database. */
    async sessionsRevoked(ids: readonly string[]): Promise<void> {
      const until = sessionHorizon()
      for (const id of ids) revokedSessions.set(id, until)
      if (ids.length === 0) return
      await writeToRedis(async (client) => {
        const pipeline = client.pipeline()
        for (const id of ids) pipeline.set(sidKey(id), '1', 'EX', Math.max(1, until - nowSeconds()))
        const results = await pipeline.exec()
        const failed = results?.find(([error]) => error !== null)
        if (failed !== undefined) throw failed[0]
      })
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
