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
}

export type UserRow = Selectable<UsersTable>
export type NewUserRow = Insertable<UsersTable>
export type UserRowUpdate = Updateable<UsersTable>
