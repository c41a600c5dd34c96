import type { FastifyInstance, RouteOptions } from 'fastify'

/** The statuses of the problems a route can answer with (RFC 9457 bodies, core/errors.ts). */
export type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 412 | 413 | 415 | 422 | 429 | 503

/** Problems by status, each with what it means for the route that answers it. */
export type Problems = Readonly<Partial<Record<ProblemStatus, string>>>

declare module 'fastify' {
  interface FastifySchema {
    /**
     * The problems only this route knows (a taken username: 409), with what each means here.
     * Those that follow from its hooks, its inputs and the rate limit are added by `answersOf`.
     */
    problems?: Problems
    /**
     * The body of a route that reads it as a stream, by media type: Fastify validates no such
     * body, so the schema here is only for the document.
     */
    streamedBody?: Readonly<Record<string, object>>
  }
}

/** What a lifecycle hook adds to the routes that run it (`describeHook`). */
export interface HookDocs {
  /** Credentials it asks for: `required` (401 without), or `optional` (anonymous is fine too). */
  readonly credentials?: 'required' | 'optional'
  readonly problems?: Problems
  /** Problems it answers only to an unsafe method (POST, PUT, PATCH, DELETE). */
  readonly writeProblems?: Problems
  /** Request headers it reads, by name, with what each does. */
  readonly headers?: Readonly<Record<string, string>>
}

// Keyed by the hook function itself: a route names its hooks, so what they answer follows it
// without a second declaration that could drift (and without Fastify's private context).
const hookDocs = new WeakMap<object, HookDocs>()

/** Records what `hook` can answer, for every route that lists it; returns the hook. */
export function describeHook<H extends object>(hook: H, docs: HookDocs): H {
  hookDocs.set(hook, docs)
  return hook
}

/**
 * Hooks every route of a plugin runs before its own: for a plugin whose every route needs them
 * (admin only), so a new route cannot forget them. Set on each route's options rather than with
 * `addHook`, so that `answersOf` sees them; they run in the same order as `addHook`'s would.
 */
export function hookEveryRoute(
  app: FastifyInstance,
  hooks: Pick<RouteOptions, 'onRequest' | 'preHandler'>,
): void {
  app.addHook('onRoute', (route) => {
    if (hooks.onRequest !== undefined)
      route.onRequest = [hooks.onRequest, route.onRequest ?? []].flat()
    if (hooks.preHandler !== undefined)
      route.preHandler = [hooks.preHandler, route.preHandler ?? []].flat()
  })
}

export interface RouteAnswers {
  readonly credentials: 'required' | 'optional' | 'none'
  /** Every problem the route can answer, by status (ascending), with the causes of each as sentences. */
  readonly problems: ReadonlyMap<ProblemStatus, string>
  /** Request headers the route reads beyond its schema, by name, with what each does. */
  readonly headers: Readonly<Record<string, string>>
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

const BODY: Problems = {
  400: 'The body is invalid: malformed JSON, or a field missing, unknown or out of range (`errors` names each)',
  413: 'The body is larger than the limit (BODY_LIMIT)',
  415: 'The body is not of a media type this operation takes',
}
const PARAMETERS: Problems = {
  400: 'A path or query parameter is invalid (`errors` names it)',
}
const NOT_FOUND: Problems = {
  404: 'No such resource, or none the caller may see',
}
const RATE_LIMITED: Problems = {
  429: 'Too many requests; retry after `Retry-After` seconds',
}
// Conditional writes: the route's 412 says it checks these against the resource's ETag.
const PRECONDITION_HEADERS = {
  'If-Match':
    'Write only if the resource still has one of these ETags (412 otherwise); `*` matches any version',
  'If-None-Match': 'Refuse the write (412) if the resource has one of these ETags; `*`: any',
}
const NOT_MODIFIED_HEADERS = {
  'If-None-Match': 'Answer 304 without a body if the resource still has one of these ETags',
}

function hooksOf(route: RouteOptions): unknown[] {
  return [route.onRequest, route.preValidation, route.preHandler].flat()
}

/**
 * The one place that decides what a route can answer besides its successes: the problems its
 * hooks declare (credentials, admin only, Idempotency-Key), a body (400, 413, 415), parameters
 * (400; a path parameter names a resource that may not exist: 404), the rate limit every route
 * but the probes has (429), and last the problems only the route knows (`schema.problems`).
 * Problems are sent as ready-made problem+json (core/errors.ts), so they are documented here
 * and never compiled into a route's serializers.
 */
export function answersOf(route: RouteOptions): RouteAnswers {
  const problems = new Map<ProblemStatus, string[]>()
  const headers: Record<string, string> = {}
  const add = (more: Problems | undefined) => {
    for (const [key, text] of Object.entries(more ?? {})) {
      const status = Number(key) as ProblemStatus
      const texts = problems.get(status) ?? []
      if (!texts.includes(text)) texts.push(text)
      problems.set(status, texts)
    }
  }
  const schema = route.schema ?? {}
  const unsafe = [route.method].flat().some((method) => UNSAFE_METHODS.has(method))

  let credentials: RouteAnswers['credentials'] = 'none'
  for (const hook of hooksOf(route)) {
    const docs = typeof hook === 'function' ? hookDocs.get(hook) : undefined
    if (docs === undefined) continue
    if (
      docs.credentials === 'required' ||
      (docs.credentials === 'optional' && credentials === 'none')
    )
      credentials = docs.credentials
    add(docs.problems)
    if (unsafe) add(docs.writeProblems)
    Object.assign(headers, docs.headers)
  }
  if (schema.body !== undefined || schema.consumes !== undefined) add(BODY)
  if (schema.querystring !== undefined || schema.params !== undefined) add(PARAMETERS)
  if (schema.params !== undefined) add(NOT_FOUND)
  if (route.config?.rateLimit !== false) add(RATE_LIMITED)
  add(schema.problems)

  if (typeof schema.response === 'object' && schema.response !== null && 304 in schema.response)
    Object.assign(headers, NOT_MODIFIED_HEADERS)
  if (schema.problems?.[412] !== undefined) Object.assign(headers, PRECONDITION_HEADERS)

  const sorted = [...problems.entries()].sort(([a], [b]) => a - b)
  return {
    credentials,
    problems: new Map(sorted.map(([status, texts]) => [status, texts.join('. ')])),
    headers,
  }
}
