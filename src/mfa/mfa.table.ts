import type { Insertable, Selectable } from 'kysely'

/** A user's authenticator: pending until confirmed with a first code. */
export interface MfaTotpTable {
  user_id: string
  /** `v1.<iv>.<tag>.<ciphertext>` (mfa.crypto.ts): never the secret itself. */
  secret_encrypted: string
  created_at: string
  confirmed_at: string | null
  /** The last TOTP time-step accepted (0: none): a code at or before it is refused. */
  last_step: number
}

/** Single-use recovery codes, kept only as hashes. */
export interface MfaRecoveryCodesTable {
  code_hash: string
  user_id: string
  created_at: string
  used_at: string | null
}

export type MfaChallengeKind = 'tokens' | 'cookie'

/** An `mfa_token`: a right password waiting for its code. */
export interface MfaChallengesTable {
  token_hash: string
  user_id: string
  kind: MfaChallengeKind
  /** The password it was issued for: a password changed since ends it. */
  password_changed_at: string
  created_at: string
  expires_at: string
  failures: number
  /** Spent (a right code) or ended (5 wrong ones). */
  ended_at: string | null
}

export type MfaTotpRow = Selectable<MfaTotpTable>
export type MfaChallengeRow = Selectable<MfaChallengesTable>
export type NewMfaChallengeRow = Insertable<MfaChallengesTable>
