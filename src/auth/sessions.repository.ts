import type { Kysely } from 'kysely'
import type { NewestFirstPosition } from '../core/pagination.js'
import type { Database } from '../database.js'
import type { SessionRow } from './auth.table.js'

export type SessionsRepository = ReturnType<typeof createSessionsRepository>

export function createSessionsRepository(db: Kysely<Database>) {
  async function isSessionRevoked(sid: string): Promise<boolean> {
    const session = await db
      .selectFrom('sessions')
      .select('id')
      .where('id', '=', sid)
      .where('revoked_at', 'is not', null)
      .executeTakeFirst()
    return session !== undefined
  }

  return {
    async insert(session: SessionRow): Promise<void> {
      await db.insertInto('sessions').values(session).execute()
    },
    async insertRefreshToken(
      sessionId: string,
      refreshToken: { id: string; token_hash: string },
      at: string,
    ): Promise<void> {
      await db
        .insertInto('refresh_tokens')
        .values({ ...refreshToken, session_id: sessionId, created_at: at, used_at: null })
        .execute()
    },
    /**
     * Marks an unused refresh token used, atomically: of concurrent callers with one token,
     * exactly one gets the session id back.
     */
    async consumeRefreshToken(
      tokenHash: string,
      at: string,
    ): Promise<{ sessionId: string } | 'used' | 'unknown'> {
      const consumed = await db
        .updateTable('refresh_tokens')
        .set({ used_at: at })
        .where('token_hash', '=', tokenHash)
        .where('used_at', 'is', null)
        .returning('session_id')
        .executeTakeFirst()
      if (consumed !== undefined) return { sessionId: consumed.session_id }
      const existing = await db
        .selectFrom('refresh_tokens')
        .select('session_id')
        .where('token_hash', '=', tokenHash)
        .executeTakeFirst()
      return existing === undefined ? 'unknown' : 'used'
    },
    sessionOfRefreshToken(tokenHash: string): Promise<SessionRow | undefined> {
      return db
        .selectFrom('refresh_tokens')
        .innerJoin('sessions', 'sessions.id', 'refresh_tokens.session_id')
        .selectAll('sessions')
        .where('refresh_tokens.token_hash', '=', tokenHash)
        .executeTakeFirst()
    },
    async touch(id: string, at: string): Promise<void> {
      await db.updateTable('sessions').set({ last_used_at: at }).where('id', '=', id).execute()
    },
    /** The live cookie session whose cookie hashes to `cookieHash`. */
    findLiveByCookie(cookieHash: string, now: string): Promise<SessionRow | undefined> {
      return db
        .selectFrom('sessions')
        .selectAll()
        .where('cookie_hash', '=', cookieHash)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst()
    },
    findById(id: string): Promise<SessionRow | undefined> {
      return db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst()
    },
    /** A user's live sessions newest first, `limit` of them below `before`. */
    listLive(
      userId: string,
      now: string,
      page: { limit: number; before: NewestFirstPosition | null },
    ): Promise<SessionRow[]> {
      let query = db
        .selectFrom('sessions')
        .selectAll()
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
      const { before } = page
      if (before !== null) {
        // The redundant `<=` bounds the (user_id, created_at) index range at the cursor.
        query = query
          .where('created_at', '<=', before.createdAt)
          .where((eb) => eb.or([eb('created_at', '<', before.createdAt), eb('id', '<', before.id)]))
      }
      return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute()
    },
    /** Revokes the given live sessions of a user (all when `ids` is omitted) but `keep`; returns their ids. */
    async revoke(
      userId: string,
      at: string,
      options: { ids?: readonly string[]; keep?: string } = {},
    ): Promise<string[]> {
      let query = db
        .updateTable('sessions')
        .set({ revoked_at: at })
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
      if (options.ids !== undefined) {
        if (options.ids.length === 0) return []
        query = query.where('id', 'in', options.ids)
      }
      if (options.keep !== undefined) query = query.where('id', '!=', options.keep)
      const rows = await query.returning('id').execute()
      return rows.map((row) => row.id)
    },
    /** Sessions revoked recently enough that access tokens minted for them may still be unexpired. */
    revokedSince(since: string): Promise<{ id: string; revoked_at: string | null }[]> {
      return db
        .selectFrom('sessions')
        .select(['id', 'revoked_at'])
        .where('revoked_at', '>=', since)
        .execute()
    },
    async revokeAccessToken(jti: string, expiresAt: string): Promise<void> {
      await db
        .insertInto('revoked_tokens')
        .values({ jti, expires_at: expiresAt })
        .onConflict((oc) => oc.column('jti').doNothing())
        .execute()
    },
    /** Whether the token `jti` or the session `sid` has been revoked (for instances without Redis). */
    async isRevoked(jti: string, sid: string): Promise<boolean> {
      const token = await db
        .selectFrom('revoked_tokens')
        .select('jti')
        .where('jti', '=', jti)
        .executeTakeFirst()
      if (token !== undefined) return true
      return isSessionRevoked(sid)
    },
    isSessionRevoked,
    liveRevokedAccessTokens(now: string): Promise<{ jti: string; expires_at: string }[]> {
      return db.selectFrom('revoked_tokens').selectAll().where('expires_at', '>', now).execute()
    },
    async purgeExpired(now: string, sessionRetention: string): Promise<void> {
      await db.deleteFrom('revoked_tokens').where('expires_at', '<=', now).execute()
      // A session's rows stay until well after it ended, so reuse of an old token is still seen.
      await db.deleteFrom('sessions').where('expires_at', '<=', sessionRetention).execute()
    },
  }
}
