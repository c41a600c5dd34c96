import { type IncomingMessage, STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/** Every error the service answers with on purpose has one of these codes. */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'CLIENT_ERROR'
  | 'REQUEST_TIMEOUT'
  | 'URI_TOO_LONG'
  | 'HEADERS_TOO_LARGE'
  | 'VALIDATION_FAILED'
  | 'MALFORMED_JSON'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'RATE_LIMITED'
  | 'PRECONDITION_FAILED'
  | 'PRECONDITION_REQUIRED'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'IDEMPOTENCY_KEY_IN_FLIGHT'
  | 'UNAUTHENTICATED'
  | 'INVALID_TOKEN'
  | 'TOKEN_EXPIRED'
  | 'INVALID_CREDENTIALS'
  | 'INVALID_REFRESH_TOKEN'
  | 'CSRF_FAILED'
  | 'FORBIDDEN'
  | 'ADMINS_ONLY'
  | 'USERNAME_TAKEN'
  | 'WEAK_PASSWORD'
  | 'WRONG_PASSWORD'
  | 'LAST_ADMIN'
  | 'USER_NOT_FOUND'
  | 'SESSION_NOT_FOUND'
  | 'NO_SESSION_TO_END'
  | 'API_KEY_NOT_FOUND'
  | 'TODO_NOT_FOUND'
  | 'DONE_ADMIN_ONLY'
  | 'SUBSCRIBER_NOT_FOUND'
  | 'SUBSCRIBER_EMAIL_TAKEN'
  | 'INVALID_SUBSCRIBER_TOKEN'
  | 'CAMPAIGN_NOT_FOUND'
  | 'CAMPAIGN_NOT_DRAFT'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL'

export interface FieldError {
  readonly path: string
  readonly message: string
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    /** The problem `title`: short, stable for the code. */
    readonly title: string,
    /** The problem `detail`: this occurrence; defaults to the title. */
    readonly detail: string = title,
    readonly extra: {
      readonly errors?: readonly FieldError[]
      readonly headers?: Readonly<Record<string, string | readonly string[]>>
    } = {},
  ) {
    super(detail)
    this.name = 'AppError'
  }
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code?: string
  errors?: FieldError[]
}

const PROBLEM_BASE = 'https://gatehouse.invalid/problems/'

/** `TOKEN_EXPIRED` → `https://gatehouse.invalid/problems/token-expired`. */
function problemType(code: ErrorCode): string {
  return PROBLEM_BASE + code.toLowerCase().replaceAll('_', '-')
}

/** The problem+json text of an error. */
export function problemJson(error: AppError): string {
  const body: Problem = {
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    detail: error.detail,
    code: error.code,
  }
  if (error.extra.errors !== undefined) body.errors = [...error.extra.errors]
  return JSON.stringify(body)
}

export function sendProblem(reply: FastifyReply, error: AppError): FastifyReply {
  for (const [name, value] of Object.entries(error.extra.headers ?? {})) {
    reply.header(name, value)
  }
  return reply.code(error.status).type('application/problem+json').send(problemJson(error))
}

// The server's own refusals of a request it could not or would not read (API.md §2).
export const requestTimeout = (detail: string): AppError =>
  new AppError(408, 'REQUEST_TIMEOUT', 'Request timeout', detail, {
    headers: { connection: 'close' },
  })
export const uriTooLong = (detail = 'The request target is too long'): AppError =>
  new AppError(414, 'URI_TOO_LONG', 'URI too long', detail)
export const headersTooLarge = (): AppError =>
  new AppError(
    431,
    'HEADERS_TOO_LARGE',
    'Request header fields too large',
    'The request header section is too large',
  )
export const badRequest = (detail = 'The request could not be processed'): AppError =>
  new AppError(400, 'BAD_REQUEST', 'Bad request', detail)

function validationPart(context: string | undefined): string {
  if (context === 'querystring') return 'query'
  return context ?? 'body'
}

/** Maps Fastify's own errors (parser, limits, validation) onto our codes; never leaks internals. */
export function toAppError(error: FastifyError | AppError | Error): AppError {
  if (error instanceof AppError) return error
  const fastifyError = error as FastifyError
  if (fastifyError.validation) {
    const part = validationPart(fastifyError.validationContext)
    const errors = fastifyError.validation.map((issue) => ({
      path: `${part}${issue.instancePath || ''}` || part,
      message: issue.message ?? 'is invalid',
    }))
    const first = errors[0]
    return new AppError(
      400,
      'VALIDATION_FAILED',
      'Validation failed',
      first ? `${first.path}: ${first.message}` : 'The request is invalid',
      { errors },
    )
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError(
        413,
        'PAYLOAD_TOO_LARGE',
        'Payload too large',
        'The request body is too large',
      )
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        'Unsupported media type',
        'Send the body as application/json',
      )
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError(400, 'MALFORMED_JSON', 'Malformed JSON', 'The JSON body is empty')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError(400, 'MALFORMED_JSON', 'Malformed JSON', 'The body is not valid JSON')
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return uriTooLong('A path segment is too long')
  }
  if (error instanceof SyntaxError || fastifyError.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
    return new AppError(400, 'MALFORMED_JSON', 'Malformed JSON', 'The body is not valid JSON')
  }
  const status = fastifyError.statusCode
  if (status === 429) {
    return new AppError(
      429,
      'RATE_LIMITED',
      'Too many requests',
      'Rate limit exceeded, retry later',
    )
  }
  if (status === 400) {
    // Fastify's own client errors (prototype poisoning, a URL it cannot decode): generic wording.
    return badRequest()
  }
  if (status !== undefined && status > 400 && status < 500) {
    // Any other client error a plugin raises keeps its status, and a title that says it.
    const reason = STATUS_CODES[status] ?? 'Client error'
    return new AppError(
      status,
      'CLIENT_ERROR',
      reason.charAt(0) + reason.slice(1).toLowerCase(),
      'The request could not be processed',
    )
  }
  return new AppError(500, 'INTERNAL', 'Internal server error', 'Something went wrong on our side')
}

export function errorHandler(
  this: FastifyInstance,
  error: FastifyError | AppError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const appError = toAppError(error)
  // Logged with the request's one line (see `failureOf`), not as a line of its own.
  if (appError.status >= 500) failures.set(request, error)
  // Refused before its body arrived (a 401 from a hook, a 413): the rest of the body is not
  // wanted, and a slow sender must not keep the connection once it is answered.
  if (bodyStillArriving(request.raw)) reply.header('connection', 'close')
  return sendProblem(reply, appError)
}

/**
 * Whether the request declares a body that has not all arrived yet. False for requests built by
 * `inject`, which have no `complete` flag and nothing on the wire.
 */
export function bodyStillArriving(raw: IncomingMessage): boolean {
  if (raw.complete !== false) return false
  const length = raw.headers['content-length']
  return raw.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

const failures = new WeakMap<FastifyRequest, unknown>()

/** The internal error behind a 5xx answer, for the request's log line; undefined otherwise. */
export function failureOf(request: FastifyRequest): unknown {
  return failures.get(request)
}

export const notFound = (detail = 'The resource does not exist'): AppError =>
  new AppError(404, 'NOT_FOUND', 'Not found', detail)
