import { type Static, Type } from '@sinclair/typebox'
import { PageQuery } from '../core/pagination.js'
import type { UserRow } from './users.table.js'

export const USERNAME_PATTERN = '^[a-z0-9_.-]{3,32}$'

export const Username = Type.String({
  pattern: USERNAME_PATTERN,
  description: '3–32 of a-z 0-9 _ . -',
})
export const DisplayName = Type.String({ minLength: 1, maxLength: 100 })
export const Role = Type.Union([Type.Literal('admin'), Type.Literal('user')])
export const UserId = Type.String({ minLength: 1, maxLength: 64 })
/** Checked with validator's isEmail (format `email`, registered in core/validation.ts). */
export const AccountEmail = Type.String({ format: 'email', maxLength: 254 })

/** Addresses compare case-insensitively (API.md §10), after NFC as they are stored. */
export function normaliseEmail(email: string): string {
  return email.normalize('NFC').toLowerCase()
}

export const User = Type.Object(
  {
    id: Type.String(),
    username: Type.String(),
    name: Type.String(),
    email: Type.Union([Type.String(), Type.Null()], { description: 'null until one is set' }),
    email_verified: Type.Boolean({ description: 'The link mailed to `email` was used' }),
    mfa_enabled: Type.Boolean({ description: 'Two-factor login is on' }),
    role: Role,
    disabled: Type.Boolean(),
    created_at: Type.String({ format: 'date-time' }),
  },
  { title: 'User', description: 'A user account' },
)
export type User = Static<typeof User>

export const UserPage = Type.Object(
  {
    items: Type.Array(User),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  },
  { title: 'UserPage' },
)

export const UserParams = Type.Object({ id: UserId })

export const UserListQuery = Type.Object({
  ...PageQuery,
  q: Type.Optional(
    Type.String({ minLength: 1, maxLength: 100, description: 'Matches username or name' }),
  ),
})

export const UserPatch = Type.Object(
  {
    name: Type.Optional(DisplayName),
    role: Type.Optional(Role),
    disabled: Type.Optional(Type.Boolean()),
  },
  {
    title: 'UserPatch',
    additionalProperties: false,
    examples: [{ role: 'admin' }, { disabled: true }],
  },
)
export type UserPatch = Static<typeof UserPatch>

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    name: row.name,
    email: row.email,
    email_verified: row.email_verified === 1,
    mfa_enabled: row.mfa_enabled === 1,
    role: row.role,
    disabled: row.disabled === 1,
    created_at: row.created_at,
  }
}
