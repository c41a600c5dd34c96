import { STATUS_CODES } from 'node:http'
import { isDeepStrictEqual } from 'node:util'
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
  sessionCookie: {
    type: 'apiKey',
    in: 'cookie',
    name: 'gh_session',
    description:
      "The web UI's session, from `POST /login` (`__Host-gh_session` when the service is served over https). POST, PUT, PATCH and DELETE also need the `X-CSRF-Token` header: the value of the `gh_csrf` cookie. Ignored when an Authorization header is sent.",
  },
} as const
const SIGNED_IN = [{ bearer: [] }, { basic: [] }, { sessionCookie: [] }]
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
    if (status.startsWith('2') && status !== '204' && conditional)
      headers.ETag = { type: 'string', description: 'The version, for If-Match and If-None-Match' }
    if (status === '201') headers.Location = { type: 'string', description: 'The new resource' }
    const extra: Record<string, unknown> = Object.keys(headers).length > 0 ? { headers } : {}
    // The answer's description, where its schema has none (instead of "Default Response").
    if (isRecord(success) && success.description === undefined)
      extra['x-response-description'] = STATUS_CODES[status] ?? status
    // Copies: the route's own schema objects also drive its serializer.
    response[status] =
      Object.keys(extra).length === 0 || !isRecord(success) ? success : { ...success, ...extra }
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

const EXAMPLES = new Set(['example', 'examples'])
const isSchema = (node: Record<string, unknown>) =>
  'type' in node || 'anyOf' in node || 'properties' in node

/**
 * Gives the schemas with a `title` (the resources and bodies: `Todo`, `TodoCreate`, …) one entry
 * each in `components.schemas`, referred to where they stood, so generators name their types.
 * A schema whose title is taken by a different one stays inline (the tests look for those).
 */
function nameSchemas(document: Record<string, unknown>): Record<string, unknown> {
  const named: Record<string, unknown> = {}
  const hoist = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(hoist)
    if (!isRecord(node)) return node
    // Examples are data: a `title` in one is a field of the example, not a schema's name.
    const out = Object.fromEntries(
      Object.entries(node).map(([key, value]) => [key, EXAMPLES.has(key) ? value : hoist(value)]),
    )
    const title = out.title
    if (typeof title !== 'string' || !isSchema(out)) return out
    if (title in named && !isDeepStrictEqual(named[title], out)) return out
    named[title] = out
    return { $ref: `#/components/schemas/${title}` }
  }
  const paths = hoist(document.paths)
  const components = isRecord(document.components) ? document.components : {}
  const schemas = isRecord(components.schemas) ? components.schemas : {}
  return {
    ...document,
    paths,
    components: { ...components, schemas: { ...schemas, ...named } },
  }
}

// The answers most operations share word for word, by status, under the name they are shared as.
const SHARED_RESPONSES: Readonly<Record<string, string>> = {
  429: 'TooManyRequests',
  '4XX': 'ClientError',
  '5XX': 'ServerError',
}

/**
 * Puts the most common answer for each status of SHARED_RESPONSES into `components.responses`
 * and refers to it from every operation that gives it, so it is written once.
 */
function shareResponses(document: Record<string, unknown>): Record<string, unknown> {
  const operations = Object.values(isRecord(document.paths) ? document.paths : {})
    .flatMap((item) => Object.values(isRecord(item) ? item : {}))
    .filter(isRecord)
  const responses: Record<string, unknown> = {}
  for (const [status, name] of Object.entries(SHARED_RESPONSES)) {
    const given = operations.flatMap((operation) => {
      const answer = isRecord(operation.responses) ? operation.responses[status] : undefined
      return answer === undefined ? [] : [answer]
    })
    const counts = new Map<string, number>()
    for (const answer of given) {
      const text = JSON.stringify(answer)
      counts.set(text, (counts.get(text) ?? 0) + 1)
    }
    const common = [...counts.entries()].sort(([, a], [, b]) => b - a)[0]?.[0]
    if (common === undefined) continue
    responses[name] = JSON.parse(common)
    for (const operation of operations) {
      if (isRecord(operation.responses) && JSON.stringify(operation.responses[status]) === common)
        operation.responses[status] = { $ref: `#/components/responses/${name}` }
    }
  }
  const components = isRecord(document.components) ? document.components : {}
  return { ...document, components: { ...components, responses } }
}

const HTML_PAGE = 'x-html-page'

/**
 * The schema fields of a page for people (API.md §3 cookie sessions, §8 pages): left out of the
 * generated operations (`hide`: its forms are not the API's JSON), and listed in the document's
 * `pages` group with `summary`, so the document still names every endpoint of the contract.
 */
export function pageDoc(summary: string) {
  return { hide: true, summary, [HTML_PAGE]: true } as const
}

interface PageEntry {
  method: string
  url: string
  summary: string
}

const PAGES_TAG = {
  name: 'pages',
  description:
    'HTML pages for people: the web UI, the sign-in form and cookie sessions, and the pages mail links open. Forms post application/x-www-form-urlencoded; answers are text/html or 303 redirects.',
}

/** `GET /app/account` → `pageGetAppAccount`; `GET /` → `pageGetHome`. */
function pageOperationId(method: string, url: string): string {
  const words = url.split(/[^A-Za-z0-9]+/).filter((word) => word !== '')
  const name = words.length === 0 ? ['home'] : words
  return `page${[method.toLowerCase(), ...name].map((w) => w[0]?.toUpperCase() + w.slice(1)).join('')}`
}

/** The document's entries for the pages: an HTML answer or a redirect, nothing more. */
function withPages(document: Record<string, unknown>, pages: readonly PageEntry[]) {
  const paths = { ...(isRecord(document.paths) ? document.paths : {}) }
  const html = { 'text/html': { schema: { type: 'string' } } }
  const entries: PageEntry[] = [
    ...pages,
    { method: 'GET', url: '/docs', summary: 'This reference, as an HTML page' },
  ]
  for (const { method, url, summary } of entries) {
    const path = url.replace(/:(\w+)/g, '{$1}')
    const existing = isRecord(paths[path]) ? paths[path] : {}
    paths[path] = {
      ...existing,
      [method.toLowerCase()]: {
        tags: [PAGES_TAG.name],
        summary,
        operationId: pageOperationId(method, url),
        responses: {
          '200': { description: 'An HTML page', content: html },
          '303': { description: 'On to another page (`Location`)' },
        },
      },
    }
  }
  paths['/openapi.json'] = {
    get: {
      tags: [PAGES_TAG.name],
      summary: 'This document (OpenAPI 3.1)',
      operationId: 'getOpenApiDocument',
      responses: {
        '200': {
          description: 'The OpenAPI document',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
      },
    },
  }
  const tags = Array.isArray(document.tags) ? document.tags : []
  return { ...document, paths, tags: [...tags, PAGES_TAG] }
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
  const pages: PageEntry[] = []
  app.addHook('onRoute', (route) => {
    const schema = route.schema as Record<string, unknown> | undefined
    if (schema?.[HTML_PAGE] !== true) return
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    for (const method of methods) {
      if (method === 'HEAD') continue
      pages.push({ method, url: route.url, summary: String(schema.summary ?? '') })
    }
  })
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
    transformObject: (document) => {
      const tidied = tidy(
        'openapiObject' in document ? document.openapiObject : document.swaggerObject,
      )
      return (
        isRecord(tidied) ? withPages(shareResponses(nameSchemas(tidied)), pages) : tidied
      ) as ReturnType<SwaggerTransformObject>
    },
  })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: docsCsp,
    uiConfig: { url: '/openapi.json', deepLinking: true },
  })
}
