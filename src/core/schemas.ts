import { type StringOptions, Type } from '@sinclair/typebox'

/** RFC 9457 problem details, as every error is sent. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' },
)

export const NoContent = Type.Null({ description: 'No content' })

/** For a GET that honours If-None-Match: the 304 it answers, which has no body. */
export const NotModified = Type.Null({
  description: 'Not modified: If-None-Match names the current ETag',
})

export const DATE_TIME_FORM =
  'must be an RFC 3339 date-time with a time zone (2026-11-22T12:00:00Z) in years 0000–9999 UTC'

/**
 * A date-time a client sends. Every such field uses this: its format (core/validation.ts, over
 * core/time.ts) admits only instants that are stored and served back as they should be.
 */
export function DateTimeInput(options: StringOptions = {}) {
  return Type.String({ format: 'date-time', errorMessage: DATE_TIME_FORM, ...options })
}
