import { describe, expect, it } from 'vitest'
import { expectBothChallenges, expectProblem } from '../../test/auth.js'
import {
  ADMIN,
  basic,
  bearer,
  buildTestApp,
  createTodo,
  json,
  loginAdmin,
  newUser,
  PASSWORD,
} from '../../test/helpers.js'
import { eventually } from '../../test/smtp.js'

/** The samples of a Prometheus text: `name{a="x",b="y"}` → value. */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const space = line.lastIndexOf(' ')
    found.set(line.slice(0, space), Number(line.slice(space + 1)))
  }
  return found
}

/** The key `samples` files a series under: labels in the order given. */
const series = (name: string, labels: Record<string, string> = {}) => {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
  return pairs.length === 0 ? name : `${name}{${pairs.join(',')}}`
}

describe('GET /metrics', async () => {
  const { app } = await buildTestApp(
    {
      // Mail that cannot leave: it waits in the outbox, for the outbox gauges.
      SMTP_URL: 'smtp://127.0.0.1:9',
      MAIL_RETRY_BASE_MS: '3600000',
    },
    { metricsOutboxEveryMs: 25 },
  )
  const admin = await loginAdmin(app)
  const scrape = async () => {
    const response = await app.inject({ url: '/metrics', headers: admin.headers })
    expect(response.statusCode, response.body).toBe(200)
    return response
  }
  const value = async (name: string, labels: Record<string, string> = {}) =>
    samples((await scrape()).body).get(series(name, labels)) ?? 0

  it('is for admins: 401 with both challenges without credentials, 403 for a user', async () => {
    expectBothChallenges(await app.inject({ url: '/metrics' }))
    const user = await newUser(app)
    expectProblem(await app.inject({ url: '/metrics', headers: user.headers }), 403, 'Admins only')
    expectProblem(
      await app.inject({ url: '/metrics', headers: basic(user.username, PASSWORD) }),
      403,
      'Admins only',
    )
  })

  it("answers an admin's token and an admin's API key with the Prometheus text", async () => {
    const response = await scrape()
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/api-keys',
      headers: admin.headers,
      payload: { name: 'prometheus' },
    })
    const { key } = json<{ key: string }>(created)
    const withKey = await app.inject({ url: '/metrics', headers: bearer(key) })
    expect(withKey.statusCode).toBe(200)
    expect(withKey.body).toContain('# TYPE http_requests_total counter')
  })

  it('lists every metric of API.md §8 with its type', async () => {
    await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: {} })
    const text = (await scrape()).body
    for (const [name, type] of [
      ['http_requests_total', 'counter'],
      ['http_request_duration_seconds', 'histogram'],
      ['gatehouse_auth_failures_total', 'counter'],
      ['gatehouse_logins_total', 'counter'],
      ['gatehouse_outbox_messages', 'gauge'],
      ['gatehouse_outbox_oldest_pending_seconds', 'gauge'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
    ]) {
      expect(text, name).toContain(`# TYPE ${name} ${type}\n`)
    }
  })

  it('counts requests by method, route pattern and status, and times them', async () => {
    const user = await newUser(app)
    const todo = await createTodo(app, user, { title: 'counted' })
    const labels = { method: 'GET', route: '/api/v1/todos/:id', status: '200' }
    const before = await value('http_requests_total', labels)
    const timedBefore = await value('http_request_duration_seconds_count', {
      method: 'GET',
      route: '/api/v1/todos/:id',
    })
    for (let i = 0; i < 3; i++) {
      const response = await app.inject({ url: `/api/v1/todos/${todo.id}`, headers: user.headers })
      expect(response.statusCode).toBe(200)
    }
    await app.inject({ url: '/api/v1/todos/no-such-todo', headers: user.headers })
    const text = (await scrape()).body
    const after = samples(text)
    expect(after.get(series('http_requests_total', labels))).toBe(before + 3)
    expect(
      after.get(
        series('http_request_duration_seconds_count', {
          method: 'GET',
          route: '/api/v1/todos/:id',
        }),
      ),
    ).toBe(timedBefore + 4)
    expect(
      after.get(
        series('http_requests_total', { method: 'GET', route: '/api/v1/todos/:id', status: '404' }),
      ),
    ).toBeGreaterThanOrEqual(1)
    // The pattern, never the URL.
    expect(text).not.toContain(todo.id)
    expect(text).not.toContain('no-such-todo')
    expect(text).toMatch(
      /^http_request_duration_seconds_bucket\{le="0.001",method="GET",route="\/api\/v1\/todos\/:id"\} \d+$/m,
    )
    const timed = { method: 'GET', route: '/api/v1/todos/:id' }
    // Buckets are cumulative: +Inf holds every request, and no bucket holds more than the next.
    expect(
      after.get(series('http_request_duration_seconds_bucket', { le: '+Inf', ...timed })),
    ).toBe(timedBefore + 4)
    const buckets = [...after]
      .filter(
        ([key]) =>
          key.startsWith('http_request_duration_seconds_bucket{') &&
          key.endsWith(`route="${timed.route}"}`),
      )
      .map(([, count]) => count)
    expect(buckets).toHaveLength(15)
    expect([...buckets].sort((a, b) => a - b)).toEqual(buckets)
    expect(after.get(series('http_request_duration_seconds_sum', timed))).toBeGreaterThan(0)
  })

  it('files a request no route matched under one fixed route', async () => {
    const labels = { method: 'GET', route: 'unmatched', status: '404' }
    const before = await value('http_requests_total', labels)
    await app.inject({ url: '/no/such/path/e8f2c1' })
    await app.inject({ url: '/another/made-up/path' })
    const text = (await scrape()).body
    expect(samples(text).get(series('http_requests_total', labels))).toBe(before + 2)
    expect(text).not.toContain('e8f2c1')
    expect(text).not.toContain('made-up')
  })

  it('a failed login moves the auth failures and the failed logins; a good one the successes', async () => {
    const user = await newUser(app)
    const refused = { scheme: 'password', reason: 'wrong_password' }
    const failuresBefore = await value('gatehouse_auth_failures_total', refused)
    const loginsBefore = await value('gatehouse_logins_total', { result: 'failure' })
    const successesBefore = await value('gatehouse_logins_total', { result: 'success' })
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: user.username, password: 'not the password at all' },
    })
    expect(wrong.statusCode).toBe(401)
    const unknown = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: 'nobody-by-this-name', password: 'not the password at all' },
    })
    expect(unknown.statusCode).toBe(401)
    await loginAdmin(app)
    const after = samples((await scrape()).body)
    expect(after.get(series('gatehouse_auth_failures_total', refused))).toBe(failuresBefore + 1)
    expect(
      after.get(
        series('gatehouse_auth_failures_total', { scheme: 'password', reason: 'unknown_user' }),
      ),
    ).toBeGreaterThanOrEqual(1)
    expect(after.get(series('gatehouse_logins_total', { result: 'failure' }))).toBe(
      loginsBefore + 2,
    )
    expect(after.get(series('gatehouse_logins_total', { result: 'success' }))).toBe(
      successesBefore + 1,
    )
  })

  it('counts refused requests by scheme and reason: missing, wrong Basic, bad token, bad key', async () => {
    const user = await newUser(app)
    const cases: [Record<string, string>, { scheme: string; reason: string }][] = [
      [{}, { scheme: 'none', reason: 'missing' }],
      [
        basic(user.username, 'a wrong password here'),
        { scheme: 'basic', reason: 'wrong_password' },
      ],
      [bearer('not-a-jwt'), { scheme: 'bearer', reason: 'invalid' }],
      [bearer('gh_not-a-key-anyone-has'), { scheme: 'api_key', reason: 'invalid' }],
      [{ authorization: 'Digest whatever' }, { scheme: 'none', reason: 'malformed' }],
    ]
    for (const [headers, labels] of cases) {
      const before = await value('gatehouse_auth_failures_total', labels)
      const response = await app.inject({ url: '/api/v1/private', headers })
      expect(response.statusCode).toBe(401)
      expect(await value('gatehouse_auth_failures_total', labels), JSON.stringify(labels)).toBe(
        before + 1,
      )
    }
  })

  it('holds no user name, id, address, email or token after requests that carry them', async () => {
    const user = await newUser(app, 'secretive')
    const email = `${user.username}@example.org`
    await app.inject({
      method: 'PATCH',
      url: '/api/v1/profile',
      headers: user.headers,
      payload: { email },
    })
    const todo = await createTodo(app, user, { title: 'a todo of a secretive user' })
    await app.inject({ url: `/api/v1/users/${user.id}`, headers: admin.headers })
    await app.inject({ url: `/api/v1/todos/${todo.id}?access_token=${user.accessToken}` })
    await app.inject({
      url: '/api/v1/private',
      headers: {
        ...basic(user.username, 'wrong password for this one'),
        'x-forwarded-for': '203.0.113.77',
      },
    })
    await app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: user.refreshToken },
    })
    const text = (await scrape()).body
    for (const secret of [
      user.username,
      user.id,
      todo.id,
      email,
      user.accessToken,
      user.refreshToken,
      admin.accessToken,
      '203.0.113.77',
      '127.0.0.1',
      'secretive',
    ]) {
      expect(text, secret).not.toContain(secret)
    }
  })

  it('the outbox gauges show the mail that waits, and how long the oldest has waited', async () => {
    const before = await value('gatehouse_outbox_messages', { status: 'pending' })
    for (let i = 0; i < 3; i++) {
      const registered = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        payload: {
          username: `waiting${process.pid}x${i}`,
          password: PASSWORD,
          name: 'Waiting',
          email: `waiting${i}@example.org`,
        },
      })
      expect(registered.statusCode, registered.body).toBe(201)
    }
    await eventually(async () =>
      (await value('gatehouse_outbox_messages', { status: 'pending' })) >= before + 3
        ? true
        : undefined,
    )
    expect(await value('gatehouse_outbox_messages', { status: 'failed' })).toBe(0)
    expect(await value('gatehouse_outbox_oldest_pending_seconds')).toBeGreaterThanOrEqual(0)
    expect((await scrape()).body).toMatch(/^gatehouse_outbox_oldest_pending_seconds \d/m)
  })
})

describe('METRICS=false', async () => {
  const { app } = await buildTestApp({ METRICS: 'false' })
  const admin = await loginAdmin(app)

  it('has no /metrics (404), and the service works as ever', async () => {
    expectProblem(await app.inject({ url: '/metrics', headers: admin.headers }), 404)
    expect((await app.inject({ url: '/api/v1/private', headers: admin.headers })).statusCode).toBe(
      200,
    )
  })
})

describe('GET /metrics on a server that has seen no login yet', async () => {
  const { app } = await buildTestApp()

  it('shows the login results and the common refusals at 0, so a rate has a sample from the start', async () => {
    const response = await app.inject({
      url: '/metrics',
      headers: basic(ADMIN.username, ADMIN.password),
    })
    expect(response.statusCode).toBe(200)
    const found = samples(response.body)
    for (const result of ['success', 'failure', 'rate_limited'])
      expect(found.get(series('gatehouse_logins_total', { result })), result).toBe(0)
    expect(
      found.get(
        series('gatehouse_auth_failures_total', { scheme: 'password', reason: 'wrong_password' }),
      ),
    ).toBe(0)
  })
})
