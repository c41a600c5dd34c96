import { type Static, Type } from '@sinclair/typebox'
import { PageQuery } from '../core/pagination.js'
import type { SubscriberRow } from './subscribers.table.js'

export const SubscriberStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('confirmed'),
  Type.Literal('unsubscribed'),
])

// Names end up in a mail header: no control characters, so no CR/LF header injection.
export const SubscriberName = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
})
/** Checked with validator's isEmail (format `email`, registered in core/validation.ts). */
export const EmailAddress = Type.String({ format: 'email', maxLength: 254 })

export const Subscriber = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    email: Type.String(),
    status: SubscriberStatus,
    created_at: Type.String({ format: 'date-time' }),
    confirmed_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { description: 'A mailing-list subscriber' },
)
export type Subscriber = Static<typeof Subscriber>

export const SubscriberPage = Type.Object({
  items: Type.Array(Subscriber),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
})
export type SubscriberPage = Static<typeof SubscriberPage>

export const SubscriberParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })

export const SubscriberListQuery = Type.Object({
  ...PageQuery,
  status: Type.Optional(SubscriberStatus),
  q: Type.Optional(
    Type.String({ minLength: 1, maxLength: 100, description: 'Matches name or email' }),
  ),
})
export type SubscriberListQuery = Static<typeof SubscriberListQuery>

/** Public signup takes `{name, email}`; only an admin may also set `status`. */
export const SubscriberCreate = Type.Object(
  { name: SubscriberName, email: EmailAddress, status: Type.Optional(SubscriberStatus) },
  { additionalProperties: false },
)
export type SubscriberCreate = Static<typeof SubscriberCreate>

export const SubscriberPut = Type.Object(
  { name: SubscriberName, email: EmailAddress },
  { additionalProperties: false },
)
export type SubscriberPut = Static<typeof SubscriberPut>

export const SubscriberPatch = Type.Object(
  {
    name: Type.Optional(SubscriberName),
    email: Type.Optional(EmailAddress),
    status: Type.Optional(SubscriberStatus),
  },
  { additionalProperties: false },
)
export type SubscriberPatch = Static<typeof SubscriberPatch>

export const TokenBody = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
)

export const SignupAccepted = Type.Object({ status: Type.Literal('pending') })

export const ImportResult = Type.Object({
  created: Type.Integer(),
  skipped: Type.Integer({ description: 'Addresses already known' }),
  errors: Type.Array(Type.Object({ line: Type.Integer(), message: Type.String() }), {
    description: 'The first 100 bad lines',
  }),
  error_count: Type.Integer({ description: 'Bad lines in all, listed or not' }),
})
export type ImportResult = Static<typeof ImportResult>

export function toSubscriber(row: SubscriberRow): Subscriber {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    status: row.status,
    created_at: row.created_at,
    confirmed_at: row.confirmed_at,
  }
}
