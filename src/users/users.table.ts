import type { Insertable, Selectable, Updateable } from 'kysely'
import type { Role } from '../core/caller.js'

export interface UsersTable {
  id: string
  username: string
  name: string
  password_hash: string
  role: Role
  /** 0 or 1: one representation on SQLite and PostgreSQL. */
  disabled: number
  created_at: string
  updated_at: string
  password_changed_at: string
  /** As typed (NFC); null until one is set. */
  email: string | null
  /** Lower-cased: unique among verified addresses, compared case-insensitively. */
  email_normalised: string | null
  /** 0 or 1: the link mailed to `email` was used. */
  email_verified: number
  /** 0 or 1: two-factor login is on (API.md §10; src/mfa/ turns it on and off). */
  mfa_enabled: number
}

export type UserRow = Selectable<UsersTable>
export type NewUserRow = Insertable<UsersTable>
export type UserRowUpdate = Updateable<UsersTable>
