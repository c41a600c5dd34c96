import type { SessionsRepository } from './sessions.repository.js'
import type { AccessClaims } from './tokens.js'

const LEEWAY_SECONDS = 30

export type Revocations = ReturnType<typeof createRevocations>

/**
 * Which unexpired access tokens no longer count: single tokens (logout) by `jti`, and every
 * token of an ended session by `sid`. Checked in memory on each request; the database is the
 * record, loaded at start so revocations survive a restart.
 */
export function createRevocations(sessions: SessionsRepository, accessTokenTtl: number) {
  const revokedJtis = new Map<string, number>()
  const revokedSessions = new Map<string, number>()
  const nowSeconds = () => Math.floor(Date.now() / 1000)
  // A token of a session revoked at t can live until t + ttl (+ leeway): keep the sid that long.
  const sessionHorizon = () => nowSeconds() + accessTokenTtl + LEEWAY_SECONDS

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
    isRevoked(claims: AccessClaims): boolean {
      return revokedJtis.has(claims.jti) || revokedSessions.has(claims.sid)
    },
    async revokeAccessToken(claims: AccessClaims): Promise<void> {
      await sessions.revokeAccessToken(claims.jti, new Date(claims.exp * 1000).toISOString())
      revokedJtis.set(claims.jti, claims.exp + LEEWAY_SECONDS)
    },
    /** Call after the sessions are marked revoked in the database. */
    sessionsRevoked(ids: readonly string[]): void {
      const until = sessionHorizon()
      for (const id of ids) revokedSessions.set(id, until)
    },
    prune(): void {
      const now = nowSeconds()
      for (const [jti, until] of revokedJtis) if (until < now) revokedJtis.delete(jti)
      for (const [sid, until] of revokedSessions) if (until < now) revokedSessions.delete(sid)
    },
  }
}
