/** What a problem code answers: one status and one title, whatever the occurrence. */
export interface ProblemKind {
  readonly status: number
  readonly title: string
  /**
   * The `WWW-Authenticate` challenge a 401 of this code carries (API.md §3): `both` for no
   * credentials, `invalid_token` for a refused token (its description is the detail).
   */
  readonly challenge?: Challenge
}

export type Challenge = 'both' | 'bearer' | 'basic' | 'invalid_token'

export type ProblemTable = Readonly<Record<string, ProblemKind>>

/** The codes of the HTTP layer and of core machinery; features declare theirs beside them. */
export const CORE_PROBLEMS = {
  BAD_REQUEST: { status: 400, title: 'Bad request' },
  VALIDATION_FAILED: { status: 400, title: 'Validation failed' },
  MALFORMED_JSON: { status: 400, title: 'Malformed JSON' },
  // Any other 4xx a framework plugin raises: its own status, and a title that names it.
  CLIENT_ERROR: { status: 400, title: 'Client error' },
  UNAUTHENTICATED: { status: 401, title: 'Unauthorized', challenge: 'both' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  REQUEST_TIMEOUT: { status: 408, title: 'Request timeout' },
  IDEMPOTENCY_KEY_IN_FLIGHT: { status: 409, title: 'Conflict' },
  PRECONDITION_FAILED: { status: 412, title: 'Precondition failed' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  URI_TOO_LONG: { status: 414, title: 'URI too long' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency key reused' },
  PRECONDITION_REQUIRED: { status: 428, title: 'Precondition required' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request header fields too large' },
  INTERNAL: { status: 500, title: 'Internal server error' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
} as const satisfies ProblemTable
