import path from 'node:path'
import SQLite from 'better-sqlite3'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { onPostgres } from '../../test/database.js'
import {
  buildTestApp,
  json,
  loginAdmin,
  newUser,
  PASSWORD,
  type Session,
} from '../../test/helpers.js'

interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  errors?: { path: string; message: string }[]
}

function expectProblem(response: LightMyRequestResponse, status: number): ProblemBody {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = json<ProblemBody>(response)
  expect(body).toMatchObject({ status })
  expect(typeof body.type).toBe('string')
  expect(typeof body.title).toBe('string')
  expect(typeof body.detail).toBe('string')
  // Nothing internal leaks: no stack frames, no SQL.
  expect(response.body).not.toMatch(/at .+\.(ts|js):\d+|node_modules|select |insert into/i)
  return body
}

function expectValidation(response: LightMyRequestResponse): ProblemBody {
  const body = expectProblem(response, 400)
  expect(Array.isArray(body.errors)).toBe(true)
  expect(body.errors?.length).toBeGreaterThan(0)
  for (const error of body.errors ?? []) {
    expect(typeof error.path).toBe('string')
    expect(typeof error.message).toBe('string')
  }
  return body
}

async function userCount(app: FastifyInstance, admin: Session): Promise<number> {
  let count = 0
  let cursor: string | null = null
  do {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`
    const page = json<{ items: unknown[]; next_cursor: string | null }>(
      await app.inject({ url: `/api/v1/users?limit=100${query}`, headers: admin.headers }),
    )
    count += page.items.length
    cursor = page.next_cursor
  } while (cursor !== null)
  return count
}

describe('errors and hardening', async () => {
  const { app } = await buildTestApp({ BODY_LIMIT: '2048' })
  const admin = await loginAdmin(app)
  const user = await newUser(app)

  it('an unknown route is a problem+json 404', async () => {
    const body = expectProblem(await app.inject({ url: '/api/v1/no-such-thing' }), 404)
    expect(body.title).toBe('Not found')
    expectProblem(await app.inject({ method: 'POST', url: '/nowhere', payload: {} }), 404)
  })

  it('a URL that cannot be decoded is a problem+json 400', async () => {
    const response = await app.inject({ url: '/api/v1/users/%E0%A4%A', headers: admin.headers })
    expectProblem(response, 400)
    expect(response.headers['x-content-type-options']).toBe('nosniff')
  })

  it('a known path with another method is 405 with Allow', async () => {
    const login = await app.inject({ method: 'GET', url: '/api/v1/auth/login' })
    expectProblem(login, 405)
    expect(login.headers.allow).toBe('POST')
    const users = await app.inject({ method: 'PUT', url: '/api/v1/users/some-id' })
    expectProblem(users, 405)
    expect(String(users.headers.allow).split(', ').sort()).toEqual([
      'DELETE',
      'GET',
      'HEAD',
      'PATCH',
    ])
  })

  it("a wildcard route's missing file is a 404, not a 405", async () => {
    for (const method of ['GET', 'HEAD'] as const) {
      const response = await app.inject({ method, url: '/docs/static/no-such-file.js' })
      expect(response.statusCode, method).toBe(404)
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    }
    expect(json(await app.inject({ url: '/docs/static/no-such-file.js' }))).toMatchObject({
      status: 404,
      title: 'Not found',
    })
    // The path exists for GET: another method is still told so.
    const post = await app.inject({ method: 'POST', url: '/docs/static/no-such-file.js' })
    expectProblem(post, 405)
    expect(post.headers.allow).toBe('GET, HEAD')
  })

  it('malformed JSON is 400', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: '{"username": "abc", ',
    })
    expectProblem(response, 400)
  })

  it('Content-Type: application/json with no body is no body: 204 where none is needed, 400 where one is', async () => {
    const jsonType = { 'content-type': 'application/json' }
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/todos',
      headers: user.headers,
      payload: { title: 'to delete' },
    })
    expect(created.statusCode).toBe(201)
    const removed = await app.inject({
      method: 'DELETE',
      url: `/api/v1/todos/${json<{ id: string }>(created).id}`,
      headers: { ...user.headers, ...jsonType },
    })
    expect(removed.statusCode).toBe(204)
    const needsOne = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: jsonType,
    })
    expectProblem(needsOne, 400)
    expect(json<{ title: string }>(needsOne).title).toBe('Validation failed')
  })

  it('an id longer than any of ours is a 400 naming it, not a refusal of the URI', async () => {
    const response = await app.inject({
      url: `/api/v1/todos/${'a'.repeat(300)}`,
      headers: user.headers,
    })
    expectProblem(response, 400)
    expect(json<{ errors: { path: string }[] }>(response).errors[0]?.path).toBe('params/id')
  })

  it('a body over BODY_LIMIT is 413', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { username: 'big_body', password: PASSWORD, name: 'x'.repeat(4000) },
    })
    expectProblem(response, 413)
    const patch = await app.inject({
      method: 'PATCH',
      url: '/api/v1/profile',
      headers: user.headers,
      payload: { name: 'y'.repeat(3000) },
    })
    expectProblem(patch, 413)
  })

  it('a body of the wrong content type is 415', async () => {
    const plain = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': 'text/plain' },
      payload: JSON.stringify({ username: 'plain_text', password: PASSWORD, name: 'P' }),
    })
    expectProblem(plain, 415)
    const patch = await app.inject({
      method: 'PATCH',
      url: '/api/v1/profile',
      headers: { ...user.headers, 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'name=Form',
    })
    expectProblem(patch, 415)
    const csv = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'text/csv' },
      payload: 'username,password',
    })
    expectProblem(csv, 415)
    const none = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': '' },
      payload: JSON.stringify({ username: 'no_type', password: PASSWORD, name: 'N' }),
    })
    expectProblem(none, 415)
  })

  it('validation errors list each failing field', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { username: 'A!', name: '' },
    })
    const body = expectValidation(response)
    const paths = (body.errors ?? []).map((error) => error.path)
    expect(paths.some((path) => path.includes('username'))).toBe(true)
    expect(paths.some((path) => path.includes('name'))).toBe(true)
  })

  it('an unknown field is 400 and assigns nothing', async () => {
    const before = await userCount(app, admin)
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { username: 'mass_assign', password: PASSWORD, name: 'M', role: 'admin' },
    })
    expectValidation(response)
    expect(await userCount(app, admin)).toBe(before)
    const patch = await app.inject({
      method: 'PATCH',
      url: '/api/v1/profile',
      headers: user.headers,
      payload: { name: 'Fine', role: 'admin' },
    })
    expectValidation(patch)
    const profile = json(await app.inject({ url: '/api/v1/profile', headers: user.headers }))
    expect(profile.role).toBe('user')
    expect(profile.name).not.toBe('Fine')
  })

  it('JSON types are never coerced', async () => {
    const cases: [string, string, unknown][] = [
      ['PATCH', `/api/v1/users/${user.id}`, { disabled: 'true' }],
      ['PATCH', `/api/v1/users/${user.id}`, { disabled: 1 }],
      ['PATCH', `/api/v1/users/${user.id}`, { name: 123 }],
      ['PATCH', `/api/v1/users/${user.id}`, { role: ['admin'] }],
      ['PATCH', `/api/v1/users/${user.id}`, { name: null }],
      ['POST', '/api/v1/auth/login', { username: 123, password: PASSWORD }],
      ['POST', '/api/v1/auth/login', { username: ['root'], password: PASSWORD }],
    ]
    for (const [method, url, payload] of cases) {
      const response = await app.inject({
        method: method as 'PATCH' | 'POST',
        url,
        headers: admin.headers,
        payload: payload as Record<string, unknown>,
      })
      expectValidation(response)
    }
    const after = json(
      await app.inject({ url: `/api/v1/users/${user.id}`, headers: admin.headers }),
    )
    expect(after).toMatchObject({ disabled: false, role: 'user' })
  })

  it('an out-of-range or non-numeric ?limit is 400', async () => {
    for (const limit of ['0', '101', '-1', '1.5', '1e1', '0x10', 'true', 'abc', '']) {
      expectValidation(
        await app.inject({ url: `/api/v1/users?limit=${limit}`, headers: admin.headers }),
      )
    }
    for (const limit of ['1', '100']) {
      const response = await app.inject({
        url: `/api/v1/users?limit=${limit}`,
        headers: admin.headers,
      })
      expect(response.statusCode).toBe(200)
    }
  })

  it('a ?cursor= the server did not issue is 400', async () => {
    const issued = json<{ next_cursor: string | null }>(
      await app.inject({ url: '/api/v1/users?limit=1', headers: admin.headers }),
    ).next_cursor
    expect(issued).not.toBeNull()
    const [payload, signature] = String(issued).split('.')
    const forgedPayload = Buffer.from(
      JSON.stringify(['00000000-0000-0000-0000-000000000000']),
    ).toString('base64url')
    const forged = [
      'garbage',
      `${forgedPayload}.${signature}`,
      `${payload}.${Buffer.alloc(16).toString('base64url')}`,
      `${payload}`,
      `${issued}.extra`,
      // Characters a lenient base64url decoder would skip: not the cursor that was issued.
      `${issued}|`,
      `${issued}=`,
      '',
      Buffer.from(JSON.stringify(['x'])).toString('base64url'),
    ]
    for (const cursor of forged) {
      const response = await app.inject({
        url: `/api/v1/users?cursor=${encodeURIComponent(cursor)}`,
        headers: admin.headers,
      })
      expectValidation(response)
    }
  })

  it('prototype poisoning is 400 and changes nothing', async () => {
    const before = await userCount(app, admin)
    const poisoned = [
      '{"username":"proto_one","password":"a perfectly fine test password","name":"P","__proto__":{"role":"admin"}}',
      '{"username":"proto_two","password":"a perfectly fine test password","name":"P","constructor":{"prototype":{"role":"admin"}}}',
    ]
    for (const payload of poisoned) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        headers: { 'content-type': 'application/json' },
        payload,
      })
      expectProblem(response, 400)
    }
    expect(await userCount(app, admin)).toBe(before)

    for (const payload of [
      '{"name":"N","__proto__":{"role":"admin"}}',
      '{"constructor":{"prototype":{"role":"admin"}}}',
    ]) {
      const response = await app.inject({
        method: 'PATCH',
        url: `/api/v1/users/${user.id}`,
        headers: { ...admin.headers, 'content-type': 'application/json' },
        payload,
      })
      expectProblem(response, 400)
    }
    const after = json(
      await app.inject({ url: `/api/v1/users/${user.id}`, headers: admin.headers }),
    )
    expect(after.role).toBe('user')
    expect(after.name).not.toBe('N')
    expect(({} as Record<string, unknown>).role).toBeUndefined()
  })

  it('every response has nosniff, Referrer-Policy same-origin and no X-Powered-By', async () => {
    const responses = [
      // A page: under no-referrer its own form would post with Origin: null and be refused.
      await app.inject({ url: '/login' }),
      await app.inject({ url: '/api/v1/public' }),
      await app.inject({ url: '/api/v1/private' }),
      await app.inject({ url: '/api/v1/private', headers: user.headers }),
      await app.inject({ url: '/nowhere' }),
      await app.inject({ method: 'DELETE', url: '/api/v1/public' }),
      await app.inject({ url: '/api/v1/users?limit=0', headers: admin.headers }),
      await app.inject({ url: '/openapi.json' }),
      await app.inject({ url: '/docs' }),
      await app.inject({ url: '/docs/' }),
      await app.inject({ url: '/healthz' }),
      await app.inject({ url: '/.well-known/jwks.json' }),
      await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        headers: { 'content-type': 'text/plain' },
        payload: 'x',
      }),
    ]
    for (const response of responses) {
      expect(response.headers['x-content-type-options']).toBe('nosniff')
      expect(response.headers['referrer-policy']).toBe('same-origin')
      expect(response.headers['x-powered-by']).toBeUndefined()
    }
  })

  it('token and authenticated responses are Cache-Control: no-store', async () => {
    const loginResponse = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: user.username, password: PASSWORD },
    })
    expect(loginResponse.statusCode).toBe(200)
    expect(loginResponse.headers['cache-control']).toBe('no-store')
    const { refresh_token } = json<{ refresh_token: string }>(loginResponse)
    const refresh = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token },
    })
    expect(refresh.statusCode).toBe(200)
    expect(refresh.headers['cache-control']).toBe('no-store')

    const authenticated = [
      await app.inject({ url: '/api/v1/profile', headers: user.headers }),
      await app.inject({ url: '/api/v1/private', headers: user.headers }),
      await app.inject({ url: '/api/v1/users', headers: admin.headers }),
      await app.inject({ url: `/api/v1/users/${user.id}`, headers: admin.headers }),
      await app.inject({ url: '/api/v1/users/unknown', headers: admin.headers }),
      await app.inject({ url: '/api/v1/users', headers: user.headers }),
    ]
    for (const response of authenticated) {
      expect(response.headers['cache-control']).toBe('no-store')
    }
  })
})

describe('idempotent registration', async () => {
  const { app, dataDir } = await buildTestApp()
  const admin = await loginAdmin(app)

  it('the same key and body answer the first 201 again and create one user', async () => {
    const payload = { username: 'idem_user', password: PASSWORD, name: 'Idem' }
    const headers = { 'idempotency-key': 'key-0001' }
    const first = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers,
      payload,
    })
    expect(first.statusCode).toBe(201)
    expect(first.headers.location).toMatch(/^\/api\/v1\/users\/.+/)
    const second = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers,
      payload,
    })
    expect(second.statusCode).toBe(201)
    expect(second.body).toBe(first.body)
    expect(second.headers.location).toBe(first.headers.location)
    expect(second.headers['content-type']).toMatch(/^application\/json/)
    const list = json<{ items: { username: string }[] }>(
      await app.inject({ url: '/api/v1/users?q=idem_user', headers: admin.headers }),
    )
    expect(list.items.map((item) => item.username)).toEqual(['idem_user'])

    const other = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers,
      payload: { ...payload, name: 'Someone else' },
    })
    expectProblem(other, 422)
  })

  it('concurrent retries with one key create one user', async () => {
    const payload = { username: 'idem_race', password: PASSWORD, name: 'Race' }
    const headers = { 'idempotency-key': 'key-race' }
    const answers = await Promise.all(
      Array.from({ length: 4 }, () =>
        app.inject({ method: 'POST', url: '/api/v1/auth/register', headers, payload }),
      ),
    )
    const created = answers.filter((answer) => answer.statusCode === 201)
    expect(created.length).toBeGreaterThanOrEqual(1)
    // The others either replay the same answer or are told to retry (409), never a new user.
    for (const answer of answers) expect([201, 409]).toContain(answer.statusCode)
    expect(new Set(created.map((answer) => answer.body)).size).toBe(1)
    const list = json<{ items: unknown[] }>(
      await app.inject({ url: '/api/v1/users?q=idem_race', headers: admin.headers }),
    )
    expect(list.items).toHaveLength(1)
  })

  it('a key belongs to its caller: another client address with the same key is a new request', async () => {
    const headers = { 'idempotency-key': 'shared-key' }
    const first = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers,
      remoteAddress: '192.0.2.1',
      payload: { username: 'idem_first', password: PASSWORD, name: 'First' },
    })
    expect(first.statusCode).toBe(201)
    const second = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers,
      remoteAddress: '192.0.2.2',
      payload: { username: 'idem_second', password: PASSWORD, name: 'Second' },
    })
    expect(second.statusCode).toBe(201)
    expect(json(second).username).toBe('idem_second')
    expect(second.headers['idempotent-replayed']).toBeUndefined()
  })

  it('a client address counts as the rate limits count it: an IPv6 client by its /64, a mapped IPv4 address as IPv4', async () => {
    const register = (remoteAddress: string, key: string, username: string) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        headers: { 'idempotency-key': key },
        remoteAddress,
        payload: { username, password: PASSWORD, name: 'Address' },
      })
    const first = await register('2001:db8:1:2::10', 'v6-key', 'idem_v6')
    expect(first.statusCode).toBe(201)
    const sameNetwork = await register('2001:db8:1:2:ffff::99', 'v6-key', 'idem_v6')
    expect(sameNetwork.headers['idempotent-replayed']).toBe('true')
    expect(sameNetwork.body).toBe(first.body)
    // Another /64 is another caller: a new request, refused because the name is taken.
    expectProblem(await register('2001:db8:1:3::10', 'v6-key', 'idem_v6'), 409)

    const v4 = await register('192.0.2.7', 'v4-key', 'idem_v4')
    expect(v4.statusCode).toBe(201)
    const mapped = await register('::ffff:192.0.2.7', 'v4-key', 'idem_v4')
    expect(mapped.headers['idempotent-replayed']).toBe('true')
    expect(mapped.body).toBe(v4.body)
  })

  it('a claim left in flight for a minute (its process died) is taken over; a younger one stands', async ({
    skip,
  }) => {
    skip(onPostgres, 'SQLite only: it plants the claims in the SQLite file')
    const claimed = (key: string, ageMs: number) => {
      const sqlite = new SQLite(path.join(dataDir, 'test.db'))
      sqlite
        .prepare(
          'insert into idempotency_keys (caller, key, request_hash, status_code, headers, body, created_at) values (?, ?, ?, 0, ?, ?, ?)',
        )
        .run(
          'ip:192.0.2.9',
          key,
          'another request',
          '{}',
          '',
          new Date(Date.now() - ageMs).toISOString(),
        )
      sqlite.close()
    }
    const register = (key: string, username: string) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        headers: { 'idempotency-key': key },
        remoteAddress: '192.0.2.9',
        payload: { username, password: PASSWORD, name: 'Claimed' },
      })
    claimed('in-flight', 1000)
    // Still the other request's key: this one differs from it.
    expectProblem(await register('in-flight', 'idem_in_flight'), 422)
    claimed('orphan', 61_000)
    const taken = await register('orphan', 'idem_orphan')
    expect(taken.statusCode).toBe(201)
    expect(taken.headers['idempotent-replayed']).toBeUndefined()
    // The claim is the new request's now: a retry replays its answer.
    expect((await register('orphan', 'idem_orphan')).body).toBe(taken.body)
  })

  it('a malformed Idempotency-Key is 400', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'idempotency-key': 'x'.repeat(256) },
      payload: { username: 'idem_bad', password: PASSWORD, name: 'Bad' },
    })
    expectValidation(response)
  })
})

describe('CORS', async () => {
  const closed = (await buildTestApp()).app
  const open = (await buildTestApp({ CORS_ORIGINS: 'https://app.example' })).app

  const preflight = (app: FastifyInstance, origin: string) =>
    app.inject({
      method: 'OPTIONS',
      url: '/api/v1/auth/login',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    })

  it('without CORS_ORIGINS no origin is allowed', async () => {
    const response = await preflight(closed, 'https://app.example')
    expect(response.headers['access-control-allow-origin']).toBeUndefined()
    const simple = await closed.inject({
      url: '/api/v1/public',
      headers: { origin: 'https://app.example' },
    })
    expect(simple.statusCode).toBe(200)
    expect(simple.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('with CORS_ORIGINS only the listed origin is allowed', async () => {
    const allowed = await preflight(open, 'https://app.example')
    expect(allowed.statusCode).toBeLessThan(300)
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example')
    expect(allowed.headers['x-content-type-options']).toBe('nosniff')
    expect(String(allowed.headers['access-control-allow-methods'])).toContain('POST')
    const simple = await open.inject({
      url: '/api/v1/public',
      headers: { origin: 'https://app.example' },
    })
    expect(simple.headers['access-control-allow-origin']).toBe('https://app.example')
    expect(String(simple.headers.vary)).toMatch(/origin/i)

    for (const origin of [
      'https://evil.example',
      'https://app.example.evil',
      'http://app.example',
    ]) {
      const refused = await preflight(open, origin)
      expect(refused.headers['access-control-allow-origin']).toBeUndefined()
      const get = await open.inject({ url: '/api/v1/public', headers: { origin } })
      expect(get.headers['access-control-allow-origin']).toBeUndefined()
    }
  })
})

describe('TRUSTED_PROXIES and rate limits', async () => {
  const direct = (await buildTestApp({ RATE_LIMIT: 'true' })).app
  const proxied = (await buildTestApp({ RATE_LIMIT: 'true', TRUSTED_PROXIES: '127.0.0.1' })).app

  const attempt = (app: FastifyInstance, forwardedFor: string, remoteAddress = '127.0.0.1') =>
    app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      remoteAddress,
      headers: { 'x-forwarded-for': forwardedFor },
      payload: { username: 'victim', password: 'wrong password, wrong' },
    })

  it('an untrusted socket cannot reset its count with X-Forwarded-For', async () => {
    for (let i = 0; i < 10; i++) {
      expect((await attempt(direct, `198.51.100.${i}`)).statusCode).toBe(401)
    }
    const limited = await attempt(direct, '198.51.100.200')
    expectProblem(limited, 429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    // Another socket address is another client.
    expect((await attempt(direct, '198.51.100.1', '127.0.0.2')).statusCode).toBe(401)
  })

  it('behind a trusted proxy each forwarded address counts on its own', async () => {
    for (let i = 0; i < 10; i++) {
      expect((await attempt(proxied, '203.0.113.7')).statusCode).toBe(401)
    }
    expectProblem(await attempt(proxied, '203.0.113.7'), 429)
    expect((await attempt(proxied, '203.0.113.8')).statusCode).toBe(401)
    // A socket that is not the trusted proxy is counted by its own address, whatever it forwards.
    for (let i = 0; i < 10; i++) {
      expect((await attempt(proxied, `203.0.113.${20 + i}`, '192.0.2.50')).statusCode).toBe(401)
    }
    expectProblem(await attempt(proxied, '203.0.113.99', '192.0.2.50'), 429)
  })
})
