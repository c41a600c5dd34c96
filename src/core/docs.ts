import swagger, { type SwaggerTransformObject } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify'
import { answersOf, type ProblemStatus } from './route-docs.js'

/**
 * Swagger UI's policy with its `frame-ancestors 'self'` replaced (browsers obey the first of
 * two, so appending would not do) and without `upgrade-insecure-requests`, which would break
 * the page when the service is reached over plain HTTP.
 */
function docsCsp(header: string): string {
  const directives = header
    .split(';')
    .map((directive) => directive.trim())
    .filter(
      (directive) =>
        directive !== '' && !/^(frame-ancestors|upgrade-insecure-requests)\b/i.test(directive),
    )
  return [...directives, "frame-ancestors 'none'"].join('; ')
}

/** A group of operations in the document, with what it is for. */
export interface DocsTag {
  readonly name: string
  readonly description: string
}

const SECURITY_SCHEMES = {
  bearer: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT access token, or API key (gh_…)',
    description:
      'An access token from login or refresh, or an API key (`gh_…`) made at /api/v1/profile/api-keys. `Authorization: JWT <token>` is accepted too.',
  },
  basic: {
    type: 'http',
    scheme: 'basic',
    description: 'Username and password (RFC 7617, UTF-8); refused for cross-site writes',
  },
} as const
const SIGNED_IN = [{ bearer: [] }, { basic: [] }]
// The empty requirement says a caller may also come without credentials.
const SIGNED_IN_OR_ANONYMOUS = [...SIGNED_IN, {}]

const PROBLEM_HEADERS: Partial<Record<ProblemStatus, Record<string, unknown>>> = {
  401: {
    'WWW-Authenticate': {
      type: 'string',
      description: 'The schemes to authenticate with, and why a token was refused',
    },
  },
  429: { 'Retry-After': { type: 'integer', description: 'Seconds to wait before retrying' } },
}

function problemResponse(description: string, headers?: Record<string, unknown>) {
  return {
    description,
    ...(headers === undefined ? {} : { headers }),
    content: { 'application/problem+json': { schema: { $ref: 'Problem' } } },
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * A route's schema as the document shows it: its successes with their headers, every problem
 * `answersOf` finds, the credentials its hooks ask for, and the headers they read.
 */
function documentRoute(route: RouteOptions, schema: FastifySchema): FastifySchema {
  const { problems: _ownProblems, streamedBody, ...documented } = schema
  const answers = answersOf(route)
  const successes = (isRecord(schema.response) ? schema.response : {}) as Record<string, unknown>
  const conditional = '304' in successes || answers.problems.has(412)
  const response: Record<string, unknown> = {}
  for (const [status, success] of Object.entries(successes)) {
    const headers: Record<string, unknown> = {}
    if (status.startsWith('2') && conditional)
      headers.ETag = { type: 'string', description: 'The version, for If-Match and If-None-Match' }
    if (status === '201') headers.Location = { type: 'string', description: 'The new resource' }
    // Copies: the route's own schema objects also drive its serializer.
    response[status] =
      Object.keys(headers).length === 0 || !isRecord(success) ? success : { ...success, headers }
  }
  for (const [status, description] of answers.problems)
    response[status] = problemResponse(description, PROBLEM_HEADERS[status])
  // Any request can meet these: the server's own refusals before a route runs, and its failures.
  response['4XX'] = problemResponse(
    'The request could not be read: malformed (400), too slow (408), or a URI (414) or headers (431) too large',
  )
  response['5XX'] = problemResponse(
    'The server failed (500), or is shutting down or too busy (503, with Retry-After)',
  )

  if (answers.credentials !== 'none')
    documented.security = answers.credentials === 'required' ? SIGNED_IN : SIGNED_IN_OR_ANONYMOUS
  const headerNames = Object.keys(answers.headers)
  if (headerNames.length > 0) {
    documented.headers = {
      type: 'object',
      properties: Object.fromEntries(
        headerNames.map((name) => [name, { type: 'string', description: answers.headers[name] }]),
      ),
    }
  }
  if (streamedBody !== undefined) {
    documented.body = {
      content: Object.fromEntries(
        Object.entries(streamedBody).map(([type, body]) => [type, { schema: body }]),
      ),
    }
  }
  documented.response = response
  return documented
}

/** The values of an `anyOf` whose members each allow one value of one type, else undefined. */
function choices(anyOf: unknown[]): { type: unknown; values: unknown[] } | undefined {
  const values: unknown[] = []
  let type: unknown
  for (const member of anyOf) {
    if (!isRecord(member)) return undefined
    const value =
      'const' in member
        ? member.const
        : Array.isArray(member.enum) && member.enum.length === 1
          ? member.enum[0]
          : undefined
    const keys = Object.keys(member).filter((key) => key !== 'type' && key !== 'description')
    if (value === undefined || keys.length !== 1) return undefined
    if (values.length > 0 && member.type !== type) return undefined
    type = member.type
    values.push(value)
  }
  return values.length > 0 ? { type, values } : undefined
}

/**
 * What generators read best, done on the whole document: a union of literals (TypeBox's
 * `Union([Literal…])`, kept so validation errors name the choices) becomes one `enum`;
 * `errorMessage` (the validator's wording) goes; a parameter with a default is optional; a body
 * that may be `null` is optional.
 */
function tidy(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(tidy)
  if (!isRecord(node)) return node
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(node)) {
    if (key === 'errorMessage') continue
    out[key] = tidy(value)
  }
  const union = Array.isArray(out.anyOf) ? choices(out.anyOf) : undefined
  if (union !== undefined) {
    delete out.anyOf
    if (union.type !== undefined) out.type = union.type
    out.enum = union.values
  }
  if (typeof out.in === 'string' && isRecord(out.schema) && 'default' in out.schema)
    out.required = false
  if (isRecord(out.requestBody) && isRecord(out.requestBody.content)) {
    const bodies = Object.values(out.requestBody.content)
    const nullable = (media: unknown) =>
      isRecord(media) &&
      isRecord(media.schema) &&
      Array.isArray(media.schema.anyOf) &&
      media.schema.anyOf.some((member) => isRecord(member) && member.type === 'null')
    if (bodies.length > 0 && bodies.every(nullable)) out.requestBody.required = false
  }
  return out
}

/**
 * The OpenAPI document (`/openapi.json`), generated from the route schemas, and its reference
 * (`/docs`). Register it before the routes it documents, and after the rate limits and the
 * 404/405 handling, which its own routes get like any other.
 */
export async function registerDocs(
  app: FastifyInstance,
  options: { tags: readonly DocsTag[] },
): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse',
        version: '1.0.0',
        description:
          'A secured REST API: accounts, JWT, Basic and API-key authentication, todos and a double opt-in mailing list. Every error is application/problem+json (RFC 9457).',
      },
      tags: [...options.tags],
      components: { securitySchemes: SECURITY_SCHEMES },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
    transform: ({ schema, url, route }) => ({
      url,
      schema: schema === undefined || schema.hide === true ? schema : documentRoute(route, schema),
    }),
    transformObject: (document) =>
      tidy(
        'openapiObject' in document ? document.openapiObject : document.swaggerObject,
      ) as ReturnType<SwaggerTransformObject>,
  })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: docsCsp,
    uiConfig: { url: '/openapi.json', deepLinking: true },
  })
}
