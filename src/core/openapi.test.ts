import { Validator } from '@seriousme/openapi-schema-validator'
import { describe, expect, it } from 'vitest'
import { buildTestApp, json } from '../../test/helpers.js'

interface Parameter {
  name: string
  in: string
  required?: boolean
  schema?: { default?: unknown }
}
interface Media {
  schema?: unknown
  example?: unknown
  examples?: unknown
}
interface Operation {
  operationId?: string
  tags?: string[]
  security?: Record<string, string[]>[]
  parameters?: Parameter[]
  requestBody?: { content: Record<string, Media> }
  responses: Record<string, Answer>
}
/** A response, or a reference to one in `components.responses`. */
interface Answer {
  $ref?: string
  content?: Record<string, Media>
}
interface Document {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  tags?: { name: string; description?: string }[]
  components: {
    securitySchemes: Record<string, unknown>
    schemas?: Record<string, unknown>
    responses?: Record<string, Answer>
  }
}

const PROBLEM = { $ref: '#/components/schemas/Problem' }

/** Every schema-like object in the document, with where it is. */
function* objects(node: unknown, at = '#'): Generator<[string, Record<string, unknown>]> {
  if (Array.isArray(node)) {
    for (const [index, item] of node.entries()) yield* objects(item, `${at}/${index}`)
  } else if (typeof node === 'object' && node !== null) {
    yield [at, node as Record<string, unknown>]
    for (const [key, value] of Object.entries(node)) yield* objects(value, `${at}/${key}`)
  }
}

describe('the OpenAPI document', async () => {
  const { app } = await buildTestApp()
  const response = await app.inject({ url: '/openapi.json' })
  const document = json<Document>(response)
  const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      name: `${method.toUpperCase()} ${path}`,
      method,
      path,
      operation,
    })),
  )
  // The pages for people (HTML, forms, redirects) are listed, not described as the API is.
  const apiOperations = operations.filter(({ operation }) => !operation.tags?.includes('pages'))
  const requiresCredentials = (operation: Operation) =>
    operation.security !== undefined &&
    !operation.security.some((requirement) => Object.keys(requirement).length === 0)
  const RESPONSES = '#/components/responses/'
  const resolve = (answer: Answer | undefined): Answer | undefined =>
    answer?.$ref?.startsWith(RESPONSES)
      ? document.components.responses?.[answer.$ref.slice(RESPONSES.length)]
      : answer
  const problemStatuses = (operation: Operation) =>
    Object.entries(operation.responses)
      .filter(([, answer]) => resolve(answer)?.content?.['application/problem+json'] !== undefined)
      .map(([status]) => status)

  it('is valid OpenAPI 3.1 to an independent validator', async () => {
    expect(response.statusCode).toBe(200)
    expect(document.openapi).toBe('3.1.0')
    const result = await new Validator().validate(json<Record<string, unknown>>(response))
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
  })

  it('names every operation with a unique operationId', () => {
    expect(operations.length).toBeGreaterThan(40)
    const ids = operations.map(({ name, operation }) => operation.operationId ?? name)
    for (const { name, operation } of operations) expect(operation.operationId, name).toBeTruthy()
    expect(ids.filter((id, index) => ids.indexOf(id) !== index)).toEqual([])
    const byRoute = Object.fromEntries(
      operations.map(({ name, operation }) => [name, operation.operationId]),
    )
    expect(byRoute).toMatchObject({
      'GET /api/v1/todos': 'listTodos',
      'POST /api/v1/todos': 'createTodo',
      'GET /api/v1/todos/{id}': 'getTodo',
      'PUT /api/v1/todos/{id}': 'replaceTodo',
      'PATCH /api/v1/todos/{id}': 'updateTodo',
      'DELETE /api/v1/todos/{id}': 'deleteTodo',
      'POST /api/v1/auth/login': 'login',
    })
  })

  it('marks no parameter with a default as required', () => {
    const parameters = operations.flatMap(({ name, operation }) =>
      (operation.parameters ?? []).map((parameter) => ({
        at: `${name} ${parameter.name}`,
        parameter,
      })),
    )
    const withDefault = parameters.filter(
      ({ parameter }) => parameter.schema?.default !== undefined,
    )
    expect(withDefault.map(({ at }) => at)).toContain('GET /api/v1/todos limit')
    expect(withDefault.filter(({ parameter }) => parameter.required === true)).toEqual([])
  })

  it('writes choices as one enum, never as anyOf of single values', () => {
    const single = (member: unknown) =>
      typeof member === 'object' &&
      member !== null &&
      ('const' in member ||
        ('enum' in member && Array.isArray(member.enum) && member.enum.length === 1))
    const unions = [...objects(document)].filter(
      ([, node]) => Array.isArray(node.anyOf) && node.anyOf.every(single),
    )
    expect(unions.map(([at]) => at)).toEqual([])
    const sort = document.paths['/api/v1/todos']?.get?.parameters?.find((p) => p.name === 'sort')
    expect(sort?.schema).toMatchObject({ type: 'string', enum: ['due', 'created_at'] })
  })

  it('declares for every operation at least one 4xx problem, as problem+json', () => {
    for (const { name, operation } of apiOperations) {
      const problems = problemStatuses(operation)
      expect(problems.filter((status) => status.startsWith('4')).length, name).toBeGreaterThan(0)
      for (const status of problems) {
        expect(resolve(operation.responses[status])?.content, `${name} ${status}`).toEqual({
          'application/problem+json': { schema: PROBLEM },
        })
      }
    }
  })

  it('declares 401 and 429 for every operation that needs credentials', () => {
    const authenticated = operations.filter(({ operation }) => requiresCredentials(operation))
    expect(authenticated.length).toBeGreaterThan(30)
    for (const { name, operation } of authenticated) {
      expect(problemStatuses(operation), name).toEqual(expect.arrayContaining(['401', '429']))
    }
  })

  it('gives every request body an example', () => {
    const bodies = operations.flatMap(({ name, operation }) =>
      Object.entries(operation.requestBody?.content ?? {}).map(([type, media]) => ({
        at: `${name} ${type}`,
        media,
      })),
    )
    expect(bodies.length).toBeGreaterThan(15)
    const without = bodies.filter(
      ({ media }) => media.example === undefined && media.examples === undefined,
    )
    expect(without.map(({ at }) => at)).toEqual([])
  })

  it('names the resources and bodies once, in components', () => {
    const named = Object.keys(document.components.schemas ?? {})
    expect(named).toEqual(expect.arrayContaining(['Problem', 'Todo', 'TodoCreate', 'User']))
    const inline = [...objects(document.paths)].filter(
      ([at, node]) => typeof node.title === 'string' && 'type' in node && !/\/examples?\//.test(at),
    )
    expect(inline.map(([at]) => at)).toEqual([])
    const page = document.components.schemas?.TodoPage as { properties: { items: unknown } }
    expect(page.properties.items).toEqual({
      type: 'array',
      items: { $ref: '#/components/schemas/Todo' },
    })
  })

  it('describes its tags and security schemes, and lists the HTML pages apart', () => {
    const used = new Set(
      operations.flatMap(({ operation }) => Object.keys(operation.security?.[0] ?? {})),
    )
    expect([...used].every((scheme) => scheme in document.components.securitySchemes)).toBe(true)
    expect(Object.keys(document.components.securitySchemes).sort()).toEqual([
      'basic',
      'bearer',
      'sessionCookie',
    ])
    for (const tag of document.tags ?? []) expect(tag.description, tag.name).toBeTruthy()
    expect(document.tags?.map((tag) => tag.name)).toContain('todos')
    // Every endpoint of API.md is in the document: the pages under `pages`, and only they.
    const pages = operations
      .filter(({ path }) => !/^\/(api\/v1|healthz|readyz|metrics|\.well-known)/.test(path))
      .map(({ name, operation }) => [name, operation.tags])
    expect(pages).toEqual(pages.map(([name]) => [name, ['pages']]))
    expect(pages.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'GET /login',
        'POST /login',
        'POST /logout',
        'GET /',
        'GET /register',
        'GET /app',
        'GET /app/account',
        'GET /admin',
        'GET /subscribe/confirm',
        'POST /subscribe/confirm',
        'GET /unsubscribe',
        'POST /unsubscribe',
        'GET /reset-password',
        'GET /verify-email',
        'GET /docs',
        'GET /openapi.json',
      ]),
    )
  })

  // The document reads a route's credentials from the hooks the route names: a request without
  // any shows that it says what the server does.
  it('asks for credentials exactly where an anonymous request is refused with 401', async () => {
    for (const { name, method, path, operation } of apiOperations) {
      const answer = await app.inject({
        method: method.toUpperCase() as 'GET',
        url: path.replace(/\{(\w+)\}/g, 'nothing-here'),
      })
      expect(answer.statusCode === 401, `${name} answered ${answer.statusCode}`).toBe(
        requiresCredentials(operation),
      )
      if (answer.statusCode >= 400)
        expect(problemStatuses(operation), name).toContain(String(answer.statusCode))
    }
  })
})
