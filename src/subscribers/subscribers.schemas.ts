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
  { title: 'Subscriber', description: 'A mailing-list subscriber' },
)
export type Subscriber = Static<typeof Subscriber>

export const SubscriberPage = Type.Object(
  {
    items: Type.Array(Subscriber),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  },
  { title: 'SubscriberPage' },
)
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
  {
    title: 'SubscriberCreate',
    additionalProperties: false,
    examples: [{ name: 'Ada', email: 'ada@example.com' }],
  },
)
export type SubscriberCreate = Static<typeof SubscriberCreate>

export const SubscriberPut = Type.Object(
  { name: SubscriberName, email: EmailAddress },
  {
    title: 'SubscriberPut',
    additionalProperties: false,
    examples: [{ name: 'Ada Lovelace', email: 'ada@example.com' }],
  },
)
export type SubscriberPut = Static<typeof SubscriberPut>

export const SubscriberPatch = Type.Object(
  {
    name: Type.Optional(SubscriberName),
    email: Type.Optional(EmailAddress),
    status: Type.Optional(SubscriberStatus),
  },
  { title: 'SubscriberPatch', additionalProperties: false, examples: [{ status: 'unsubscribed' }] },
)
export type SubscriberPatch = Static<typeof SubscriberPatch>

export const TokenBody = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 200 }) },
  {
    title: 'TokenBody',
    additionalProperties: false,
    examples: [{ token: 'Zq2c0mB7xW1n9VYtQe8KfR4uJpL3sHaD6gEoNiUyT5k' }],
  },
)

/**
 * An import as the document shows it, by media type. The route reads the body as a stream and
 * checks it line by line (subscribers.import.ts), so these never validate a request.
 */
export const ImportBody = {
  'text/csv': Type.String({
    description: 'A header line `name,email`, then one subscriber a line',
    examples: ['name,email\nAda Lovelace,ada@example.com\nGrace Hopper,grace@example.com\n'],
  }),
  'application/json': Type.Array(Type.Object({ name: Type.String(), email: Type.String() }), {
    examples: [[{ name: 'Ada Lovelace', email: 'ada@example.com' }]],
  }),
}

export const SignupAccepted = Type.Object(
  { status: Type.Literal('pending') },
  { title: 'SignupAccepted' },
)

export const ImportResult = Type.Object(
  {
    created: Type.Integer(),
    skipped: Type.Integer({ description: 'Addresses already known' }),
    errors: Type.Array(Type.Object({ line: Type.Integer(), message: Type.String() }), {
      description: 'The first 100 bad lines',
    }),
    error_count: Type.Integer({ description: 'Bad lines in all, listed or not' }),
  },
  { title: 'ImportResult' },
)
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
