import { Type } from '@sinclair/typebox'
import { DateTimeInput } from '../core/schemas.js'
import { DisplayName, Username } from '../users/users.schemas.js'
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
  },
  { additionalProperties: false },
)

export const LoginBody = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: 64 }), password: Password },
  { additionalProperties: false },
)

export const RefreshBody = Type.Object(
  { refresh_token: Type.String({ minLength: 1, maxLength: 512 }) },
  { additionalProperties: false },
)

export const LogoutBody = Type.Union([
  Type.Object(
    { refresh_token: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })) },
    { additionalProperties: false },
  ),
  Type.Null(),
])

export const TokenPair = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Access token lifetime, seconds' }),
  refresh_token: Type.String(),
})

export const ProfilePatch = Type.Object({ name: DisplayName }, { additionalProperties: false })

export const PasswordChangeBody = Type.Object(
  { current_password: Password, new_password: Type.String({ maxLength: PASSWORD_MAX_LENGTH * 4 }) },
  { additionalProperties: false },
)

export const Session = Type.Object({
  id: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.String({ format: 'date-time' }),
  user_agent: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean(),
})

export const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})

export const NewApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  key: Type.String({ description: 'Shown once; kept only as a hash' }),
  prefix: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})

export const ApiKeyBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    expires_at: Type.Optional(
      DateTimeInput({ description: 'When the key stops working; kept as its UTC instant (ms)' }),
    ),
  },
  { additionalProperties: false },
)

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })
