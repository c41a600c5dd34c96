import { type Static, Type } from '@sinclair/typebox'
import { PageQuery } from '../core/pagination.js'
import { DateTimeInput } from '../core/schemas.js'
import { AccountEmail, DisplayName, Username } from '../users/users.schemas.js'
import type { ApiKeyRow, SessionRow } from './auth.table.js'
import { PASSWORD_MAX_LENGTH } from './passwords.js'

const Password = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH * 4 })

export const RegisterBody = Type.Object(
  {
    username: Username,
    password: Type.String({
      maxLength: PASSWORD_MAX_LENGTH * 4,
      description: 'PASSWORD_MIN_LENGTH–1024 characters after NFKC; not a common password',
    }),
    name: DisplayName,
    email: Type.Optional(
      Type.String({
        format: 'email',
        maxLength: 254,
        description: 'Optional; mailed a verification link (an address in use is not revealed)',
      }),
    ),
  },
  {
    title: 'RegisterBody',
    additionalProperties: false,
    examples: [
      { username: 'alice', password: 'correct horse battery staple', name: 'Alice' },
      {
        username: 'alice',
        password: 'correct horse battery staple',
        name: 'Alice',
        email: 'alice@example.com',
      },
    ],
  },
)

export const LoginBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 64 }), password: Password },
  {
    title: 'LoginBody',
    additionalProperties: false,
    examples: [{ username: 'alice', password: 'correct horse battery staple' }],
  },
)

// What a refresh token looks like (256 random bits, base64url), for the examples.
const REFRESH_TOKEN_EXAMPLE = 'Zq2c0mB7xW1n9VYtQe8KfR4uJpL3sHaD6gEoNiUyT5k'

export const RefreshBody = Type.Object(
  { refresh_token: Type.String({ minLength: 1, maxLength: 512 }) },
  {
    title: 'RefreshBody',
    additionalProperties: false,
    examples: [{ refresh_token: REFRESH_TOKEN_EXAMPLE }],
  },
)

/** No body, or with Basic credentials the refresh token of the session to end. */
export const LogoutBody = Type.Union(
  [
    Type.Object(
      { refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })) },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { title: 'LogoutBody', examples: [{ refresh_token: REFRESH_TOKEN_EXAMPLE }] },
)

export const TokenPair = Type.Object(
  {
    access_token: Type.String(),
    token_type: Type.Literal('Bearer'),
    expires_in: Type.Integer({ description: 'Access token lifetime, seconds' }),
    refresh_token: Type.String(),
  },
  { title: 'TokenPair' },
)
export type TokenPair = Static<typeof TokenPair>

export const MfaRequired = Type.Object(
  {
    mfa_required: Type.Literal(true),
    mfa_token: Type.String({
      description: 'Send it with a code to POST /api/v1/auth/login/mfa; single use',
    }),
    expires_in: Type.Integer({ description: 'Seconds the mfa_token lasts (300)' }),
  },
  {
    title: 'MfaRequired',
    description: 'The password was right and two-factor login is on: no tokens until the code',
  },
)
export type MfaRequired = Static<typeof MfaRequired>

export const ProfilePatch = Type.Object(
  {
    name: Type.Optional(DisplayName),
    email: Type.Optional(
      Type.Union([AccountEmail, Type.Null()], {
        description:
          'A new address is unverified until the link mailed to it is used; null removes it',
      }),
    ),
  },
  {
    title: 'ProfilePatch',
    additionalProperties: false,
    minProperties: 1,
    examples: [{ name: 'Alice Liddell' }, { email: 'alice@example.com' }],
  },
)

export const PasswordChangeBody = Type.Object(
  { current_password: Password, new_password: Type.String({ maxLength: PASSWORD_MAX_LENGTH * 4 }) },
  {
    title: 'PasswordChangeBody',
    additionalProperties: false,
    examples: [
      {
        current_password: 'correct horse battery staple',
        new_password: 'tr0ub4dor and 3 more words',
      },
    ],
  },
)

export const Session = Type.Object(
  {
    id: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    last_used_at: Type.String({ format: 'date-time' }),
    user_agent: Type.Union([Type.String(), Type.Null()]),
    current: Type.Boolean(),
  },
  { title: 'Session' },
)
export type Session = Static<typeof Session>

export const SessionPage = Type.Object(
  {
    items: Type.Array(Session),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  },
  { title: 'SessionPage' },
)

export const SessionListQuery = Type.Object({ ...PageQuery })

export const ApiKey = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    prefix: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { title: 'ApiKey' },
)
export type ApiKey = Static<typeof ApiKey>

export const ApiKeyPage = Type.Object(
  {
    items: Type.Array(ApiKey),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  },
  { title: 'ApiKeyPage' },
)

export const ApiKeyListQuery = Type.Object({ ...PageQuery })

// An API key with the key itself, which answers keep after `name` (as they always have).
const { id, name, ...apiKeyRest } = ApiKey.properties
export const NewApiKey = Type.Object(
  {
    id,
    name,
    key: Type.String({ description: 'Shown once; kept only as a hash' }),
    ...apiKeyRest,
  },
  { title: 'NewApiKey' },
)
export type NewApiKey = Static<typeof NewApiKey>

export const ApiKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    expires_at: Type.Optional(
      DateTimeInput({ description: 'When the key stops working; kept as its UTC instant (ms)' }),
    ),
  },
  {
    title: 'ApiKeyBody',
    additionalProperties: false,
    examples: [{ name: 'CI deploys', expires_at: '2027-01-01T00:00:00Z' }],
  },
)

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })

export function toSession(row: SessionRow, currentSessionId: string | undefined): Session {
  return {
    id: row.id,
    created_at: row.created_at,
    last_used_at: row.last_used_at,
    user_agent: row.user_agent,
    current: row.id === currentSessionId,
  }
}

export function toApiKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    created_at: row.created_at,
    expires_at: row.expires_at,
    last_used_at: row.last_used_at,
  }
}
