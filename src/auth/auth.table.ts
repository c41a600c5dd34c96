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

/**
 * EdDSA signing keys added by rotation (the data-dir key is the first, and is not stored). The
 * last row by (`created_at`, `kid`) signs; each other key stopped signing when the next began.
 */
export interface SigningKeysTable {
  /** RFC 7638 thumbprint of the public key. */
  kid: string
  /** The kid of the data-dir key whose secret encrypts `private_key`: a replaced one starts anew. */
  origin_kid: string
  /** The public JWK's `x` (Ed25519). */
  public_x: string
  /** AES-256-GCM under a key derived from the server secret; null once the key stopped signing. */
  private_key: string | null
  /** When it began signing. */
  created_at: string
}
