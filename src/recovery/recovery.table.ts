import type { Insertable, Selectable } from 'kysely'

export type AccountTokenPurpose = 'verify_email' | 'password_reset'

/** Single-use links mailed to an account's address, kept only as hashes. */
export interface AccountTokensTable {
  token_hash: string
  /** Null only for the stand-in row of a reset request for no account (same work either way). */
  user_id: string | null
  purpose: AccountTokenPurpose
  /** The address the link went to (normalised): a link for a replaced address does nothing. */
  email: string
  created_at: string
  expires_at: string
  used_at: string | null
}

export type AccountTokenRow = Selectable<AccountTokensTable>
export type NewAccountTokenRow = Insertable<AccountTokensTable>
