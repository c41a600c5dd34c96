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

const problem = (description: string) => Type.Ref('Problem', { description })

/** Response entries for the errors a route can answer with, for the OpenAPI document. */
export const problems = {
  400: problem('Invalid input (problem+json with `errors`)'),
  401: problem('Missing or invalid credentials'),
  403: problem('Not allowed'),
  404: problem('Not found'),
  409: problem('Conflict'),
  412: problem('If-Match does not match the current ETag'),
  413: problem('The request body is too large'),
  429: problem('Rate limited; see Retry-After'),
} as const

/** A route's problem responses, beside its success: `{ 200: Todo, ...problemsFor(400, 404) }`. */
export function problemsFor<const S extends keyof typeof problems>(
  ...statuses: S[]
): Pick<typeof problems, S> {
  const entries = {} as Pick<typeof problems, S>
  for (const status of statuses) entries[status] = problems[status]
  return entries
}

export const NoContent = Type.Null({ description: 'No content' })

/** Security requirement for routes any authenticated user may call. */
export const userSecurity: { [scheme: string]: string[] }[] = [{ bearer: [] }, { basic: [] }]

export const DATE_TIME_FORM =
  'must be an RFC 3339 date-time with a time zone (2026-11-22T12:00:00Z) in years 0000–9999 UTC'

/**
 * A date-time a client sends. Every such field uses this: its format (core/validation.ts, over
 * core/time.ts) admits only instants that are stored and served back as they should be.
 */
export function DateTimeInput(options: StringOptions = {}) {
  return Type.String({ format: 'date-time', errorMessage: DATE_TIME_FORM, ...options })
}
