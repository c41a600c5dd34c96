import { type IncomingMessage, STATUS_CODES } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

import { type ErrorCode, PROBLEMS } from '../problems.js'
import type { Challenge } from './problems.js'

export type { ErrorCode }

export interface FieldError {
  readonly path: string
  readonly message: string
}

export interface ErrorExtra {
  readonly errors?: readonly FieldError[]
  readonly headers?: Readonly<Record<string, string | readonly string[]>>
  /** Another challenge than the code's own (a refused Basic header asks for Basic again). */
  readonly challenge?: Challenge
}

/**
 * The one error type the service throws on purpose. The code fixes the status and title (one
 * table, `src/problems.ts`); a throw site gives the code and what happened:
 * `new AppError('TODO_NOT_FOUND', 'No such todo')`.
 */
export class AppError extends Error {
  readonly status: number
  /** The problem `title`: short, stable for the code. */
  readonly title: string
  /** The problem `detail`: this occurrence; the title when not given. */
  readonly detail: string

  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly extra: ErrorExtra = {},
  ) {
    const kind = PROBLEMS[code]
    // An answer, not a fault: the stack would never be read, and capturing it was the largest
    // single cost of a 429 answered to a flood (BENCHMARKS.md, W8).
    const stackTraceLimit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(detail ?? kind.title)
    Error.stackTraceLimit = stackTraceLimit
    this.name = 'AppError'
    this.status = kind.status
    this.title = kind.title
    this.detail = detail ?? kind.title
  }

  /** A 4xx the framework raised with its own status: kept, under a title that names it. */
  static clientError(status: number, title: string, detail: string): AppError {
    const error = new AppError('CLIENT_ERROR', detail)
    Object.assign(error, { status, title })
    return error
  }
}

const REALM = 'realm="gatehouse"'
const BEARER_CHALLENGE = `Bearer ${REALM}`
const BASIC_CHALLENGE = `Basic ${REALM}, charset="UTF-8"`

/** The `WWW-Authenticate` value(s) a 401 carries (API.md §3), from its code or its override. */
function challengeOf(error: AppError): string | string[] | undefined {
  const challenge = error.extra.challenge ?? PROBLEMS[error.code].challenge
  switch (challenge) {
    case 'both':
      return [BEARER_CHALLENGE, BASIC_CHALLENGE]
    case 'bearer':
      return BEARER_CHALLENGE
    case 'basic':
      return BASIC_CHALLENGE
    case 'invalid_token':
      return `${BEARER_CHALLENGE}, error="invalid_token", error_description="${error.detail}"`
    default:
      return undefined
  }
}

/** A 400 naming the fields that failed, as schema validation answers. */
export function validationFailed(errors: readonly FieldError[]): AppError {
  const first = errors[0]
  return new AppError(
    'VALIDATION_FAILED',
    first === undefined ? 'The request is invalid' : `${first.path}: ${first.message}`,
    { errors },
  )
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
  const challenge = challengeOf(error)
  if (challenge !== undefined) reply.header('www-authenticate', challenge)
  return reply.code(error.status).type('application/problem+json').send(problemJson(error))
}

// The server's own refusals of a request it could not or would not read (API.md §2).
export const requestTimeout = (detail: string): AppError =>
  new AppError('REQUEST_TIMEOUT', detail, {
    headers: { connection: 'close' },
  })
export const uriTooLong = (detail = 'The request target is too long'): AppError =>
  new AppError('URI_TOO_LONG', detail)
export const headersTooLarge = (): AppError =>
  new AppError('HEADERS_TOO_LARGE', 'The request header section is too large')
export const badRequest = (detail = 'The request could not be processed'): AppError =>
  new AppError('BAD_REQUEST', detail)

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
    return validationFailed(errors)
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE', 'The request body is too large')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AppError('MALFORMED_JSON', 'The JSON body is empty')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('MALFORMED_JSON', 'The body is not valid JSON')
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return uriTooLong('A path segment is too long')
  }
  if (error instanceof SyntaxError || fastifyError.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
    return new AppError('MALFORMED_JSON', 'The body is not valid JSON')
  }
  const status = fastifyError.statusCode
  if (status === 429) {
    return new AppError('RATE_LIMITED', 'Rate limit exceeded, retry later')
  }
  if (status === 400) {
    // Fastify's own client errors (prototype poisoning, a URL it cannot decode): generic wording.
    return badRequest()
  }
  if (status !== undefined && status > 400 && status < 500) {
    // Any other client error a plugin raises keeps its status, and a title that says it.
    const reason = STATUS_CODES[status] ?? 'Client error'
    return AppError.clientError(
      status,
      reason.charAt(0) + reason.slice(1).toLowerCase(),
      'The request could not be processed',
    )
  }
  return new AppError('INTERNAL', 'Something went wrong on our side')
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
  new AppError('NOT_FOUND', detail)
