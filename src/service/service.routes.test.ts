import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { describe, expect, it } from 'vitest'
import {
  ADMIN,
  basic,
  buildTestApp,
  json,
  loginAdmin,
  newUser,
  PASSWORD,
} from '../../test/helpers.js'
import { postgresAvailable, tempDatabase } from '../../test/postgres.js'
import { redisAvailable } from '../../test/redis.js'

/**
 * Every `METHOD path` the app serves, read from Fastify's own route tree (`printRoutes`), with
 * params in OpenAPI form (`{id}`). HEAD (added beside GET) and the files pages load (the UI's
 * assets, the reference's own) are left out: every endpoint, pages included, is documented.
 */
function servedRoutes(app: FastifyInstance): Set<string> {
  const routes = new Set<string>()
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([^)]+)\))?/.exec(line.replace(/│ {3}/g, '    '))
    if (match === null) continue
    const depth = (match[1] ?? '').length / 4
    stack.length = depth
    stack.push(match[2] ?? '')
    const path = stack.join('').replace(/:(\w+)/g, '{$1}')
    for (const method of (match[3] ?? '').split(', ')) {
      if (method === '' || method === 'HEAD') continue
      if (path === '/assets/{file}' || (path.startsWith('/docs') && path !== '/docs')) continue
      routes.add(`${method} ${path}`)
    }
  }
  return routes
}

describe('service endpoints', async () => {
  const { app } = await buildTestApp()
  const user = await newUser(app)

  it('GET /api/v1/public answers anyone', async () => {
    const response = await app.inject({ url: '/api/v1/public' })
    expect(response.statusCode).toBe(200)
    expect(json(response)).toEqual({ message: 'This is a public page' })
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    expect(response.headers['x-content-type-options']).toBe('nosniff')
    expect(response.headers['x-powered-by']).toBeUndefined()
  })

  it('GET /api/v1/private answers 42 to Bearer, JWT and Basic, and 401 otherwise', async () => {
    const anonymous = await app.inject({ url: '/api/v1/private' })
    expect(anonymous.statusCode).toBe(401)
    expect(anonymous.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(anonymous.headers['www-authenticate']).toEqual([
      'Bearer realm="gatehouse"',
      'Basic realm="gatehouse", charset="UTF-8"',
    ])
    for (const authorization of [
      `Bearer ${user.accessToken}`,
      `JWT ${user.accessToken}`,
      basic(user.username, PASSWORD).authorization,
    ]) {
      const response = await app.inject({
        url: '/api/v1/private',
        headers: { authorization: String(authorization) },
      })
      expect(response.statusCode).toBe(200)
      expect(json(response)).toEqual({ meaning_of_life: 42 })
      expect(response.headers['cache-control']).toBe('no-store')
    }
    const wrongPassword = await app.inject({
      url: '/api/v1/private',
      headers: basic(user.username, 'not the password at all'),
    })
    expect(wrongPassword.statusCode).toBe(401)
    expect(String(wrongPassword.headers['www-authenticate'])).toMatch(/^Basic realm="gatehouse"/)
    const badToken = await app.inject({
      url: '/api/v1/private',
      headers: { authorization: `Bearer ${user.accessToken.slice(0, -4)}AAAA` },
    })
    expect(badToken.statusCode).toBe(401)
    expect(String(badToken.headers['www-authenticate'])).toContain('error="invalid_token"')
  })

  it('GET /healthz and /readyz answer 200', async () => {
    const health = await app.inject({ url: '/healthz' })
    expect(health.statusCode).toBe(200)
    const ready = await app.inject({ url: '/readyz' })
    expect(ready.statusCode).toBe(200)
    expect(json(ready)).toEqual({ status: 'ready' })
  })

  it('GET /api/v1 links to the collections, the docs and the auth endpoints, and they exist', async () => {
    const response = await app.inject({ url: '/api/v1' })
    expect(response.statusCode).toBe(200)
    const { links } = json<{ links: Record<string, string> }>(response)
    expect(links).toMatchObject({
      register: '/api/v1/auth/register',
      login: '/api/v1/auth/login',
      refresh: '/api/v1/auth/refresh',
      logout: '/api/v1/auth/logout',
      profile: '/api/v1/profile',
      users: '/api/v1/users',
      todos: '/api/v1/todos',
      subscribers: '/api/v1/subscribers',
      campaigns: '/api/v1/campaigns',
      docs: '/docs',
      openapi: '/openapi.json',
    })
    const served = [...servedRoutes(app)].map((route) => route.split(' ')[1])
    // Features that other branches deliver are linked already; everything else must be served.
    const pending = ['/api/v1/todos', '/api/v1/subscribers', '/api/v1/campaigns']
    for (const [name, href] of Object.entries(links)) {
      expect(href, name).toMatch(/^\//)
      if (pending.includes(href) && !served.includes(href)) continue
      expect(served.includes(href) || href === '/docs' || href === '/openapi.json', href).toBe(true)
    }
  })

  it('GET /openapi.json is OpenAPI 3.1 and documents exactly the served endpoints', async () => {
    const response = await app.inject({ url: '/openapi.json' })
    expect(response.statusCode).toBe(200)
    const document = json<{
      openapi: string
      paths: Record<string, Record<string, { summary?: string; responses?: object }>>
    }>(response)
    expect(document.openapi).toMatch(/^3\.1\./)
    const documented = new Set<string>()
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        documented.add(`${method.toUpperCase()} ${path}`)
        expect(operation.summary, `${method} ${path}`).toBeTruthy()
        expect(Object.keys(operation.responses ?? {}).length).toBeGreaterThan(0)
      }
    }
    const served = servedRoutes(app)
    expect(served.size).toBeGreaterThan(15)
    expect([...served].filter((route) => !documented.has(route))).toEqual([])
    expect([...documented].filter((route) => !served.has(route))).toEqual([])
  })

  it('GET /docs is an HTML page that cannot be framed', async () => {
    for (const url of ['/docs', '/docs/']) {
      const response = await app.inject({ url })
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-type']).toMatch(/^text\/html/)
      const directives = String(response.headers['content-security-policy'])
        .split(';')
        .map((directive) => directive.trim())
        .filter((directive) => directive !== '')
      // Browsers obey the first of repeated directives: there must be exactly one.
      const framing = directives.filter((directive) => directive.startsWith('frame-ancestors'))
      expect(framing).toEqual(["frame-ancestors 'none'"])
      expect(response.headers['x-content-type-options']).toBe('nosniff')
    }
  })

  it('an unknown path is a problem+json 404, a known path with another method 405', async () => {
    const missing = await app.inject({ url: '/api/v1/nothing-here' })
    expect(missing.statusCode).toBe(404)
    expect(missing.headers['content-type']).toMatch(/application\/problem\+json/)
    const wrongMethod = await app.inject({ method: 'DELETE', url: '/api/v1/public' })
    expect(wrongMethod.statusCode).toBe(405)
    expect(wrongMethod.headers.allow).toContain('GET')
  })

  it('an admin sees the same through Basic as through a token', async () => {
    const admin = await loginAdmin(app)
    const viaToken = json(await app.inject({ url: '/api/v1/profile', headers: admin.headers }))
    const viaBasic = json(
      await app.inject({ url: '/api/v1/profile', headers: basic(ADMIN.username, ADMIN.password) }),
    )
    expect(viaBasic).toEqual(viaToken)
  })
})

// /readyz must tell a load balancer when the database is gone. PostgreSQL makes that real:
// the test drops the server's database under it.
const postgres = await postgresAvailable()
describe.skipIf(!postgres)('readiness on PostgreSQL', async () => {
  const database = postgres ? await tempDatabase() : null
  const { app } = postgres
    ? await buildTestApp({ DATABASE_URL: String(database?.url) })
    : { app: null }

  it('/readyz is 503 problem+json once the database is unavailable; /healthz stays 200', async () => {
    if (app === null || database === null) return
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200)
    await database.drop()
    const ready = await app.inject({ url: '/readyz' })
    expect(ready.statusCode).toBe(503)
    expect(ready.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(json(ready)).toMatchObject({ status: 503, title: 'Service unavailable' })
    expect(ready.body).not.toMatch(/gatehouse_test_|does not exist|postgres/i)
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
    // A request that needs the database fails without leaking internals.
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'root', password: 'anything at all here' },
    })
    expect(login.statusCode).toBe(500)
    expect(login.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(login.body).not.toMatch(/gatehouse_test_|does not exist|select|at .+\.js:\d+/i)
  })
})

/**
 * A TCP relay to the local Redis that the test can cut and restore: an outage without touching
 * the shared Redis (only PING crosses it while it is up; no key is written).
 */
async function redisRelay(): Promise<{
  url: string
  cut(): Promise<void>
  restore(): Promise<void>
}> {
  const sockets = new Set<Socket>()
  let server = createServer()
  const listen = (port: number) =>
    new Promise<number>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(6379, '127.0.0.1')
        for (const socket of [client, upstream]) {
          sockets.add(socket)
          socket.on('error', () => undefined)
          socket.on('close', () => {
            client.destroy()
            upstream.destroy()
          })
        }
        client.pipe(upstream).pipe(client)
      })
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
    })
  const port = await listen(0)
  return {
    url: `redis://127.0.0.1:${port}`,
    async cut() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
        sockets.clear()
      })
    },
    async restore() {
      await listen(port)
    },
  }
}

/** Polls `/readyz` until it answers `status`, for up to `ms`; returns the last answer. */
async function readiness(app: FastifyInstance, status: number, ms = 5000) {
  const deadline = Date.now() + ms
  for (;;) {
    const response = await app.inject({ url: '/readyz' })
    if (response.statusCode === status || Date.now() > deadline) return response
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('readiness with REDIS_URL', async () => {
  it('/readyz is 503 problem+json while Redis is unreachable', async () => {
    const { app } = await buildTestApp({ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT: 'true' })
    const ready = await app.inject({ url: '/readyz' })
    expect(ready.statusCode).toBe(503)
    expect(ready.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(json(ready)).toMatchObject({
      status: 503,
      title: 'Service unavailable',
      detail: 'Redis does not answer',
    })
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
  })

  it('a rate-limited request goes through, promptly, while Redis is unreachable', async () => {
    const { app } = await buildTestApp({ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT: 'true' })
    const started = Date.now()
    const response = await app.inject({ url: '/api/v1/public' })
    expect(response.statusCode, response.body).toBe(200)
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it.skipIf(!(await redisAvailable()))(
    'readiness follows Redis going away and coming back, without a restart',
    async () => {
      const relay = await redisRelay()
      const { app } = await buildTestApp({ REDIS_URL: relay.url, RATE_LIMIT: 'true' })
      expect((await readiness(app, 200)).statusCode).toBe(200)
      await relay.cut()
      const down = await readiness(app, 503)
      expect(down.statusCode).toBe(503)
      expect(json(down)).toMatchObject({ detail: 'Redis does not answer' })
      // No key is written while Redis is down: the limit is skipped, the request served.
      expect((await app.inject({ url: '/api/v1/public' })).statusCode).toBe(200)
      await relay.restore()
      expect((await readiness(app, 200)).statusCode).toBe(200)
    },
  )
})
