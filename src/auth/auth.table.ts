import type { Selectable } from 'kysely'

/**
 * A session is one refresh-token family, or one cookie session of the web UI: it starts at login
 * and ends at its absolute expiry.
 */
export interface SessionsTable {
  id: string
  user_id: string
  created_at: string
  last_used_at: string
  expires_at: string
  user_agent: string | null
  revoked_at: string | null
  /** SHA-256 of the session cookie for a cookie session (API.md §3); null for a refresh family. */
  cookie_hash: string | null
}

export interface RefreshTokensTable {
  id: string
  session_id: string
  /** SHA-256 of the token: the token itself has 256 random bits, so a fast hash is enough. */
  token_hash: string
  created_at: string
  used_at: string | null
}

/** Access tokens revoked before their expiry (logout). Rows go once `expires_at` passes. */
export interface RevokedTokensTable {
  jti: string
  expires_at: string
}

export interface ApiKeysTable {
  id: string
  user_id: string
  name: string
  prefix: string
  key_hash: string
  created_at: string
  expires_at: string | null
  last_used_at: string | null
}

export type SessionRow = Selectable<SessionsTable>
export type ApiKeyRow = Selectable<ApiKeysTable>
