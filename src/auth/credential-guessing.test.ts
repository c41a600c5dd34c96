import { randomBytes, randomInt } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { buildAppAt, expectProblem } from '../../test/auth.js'
import { onPostgres, skipSuite } from '../../test/database.js'
import {
  ADMIN,
  basic,
  bearer,
  buildTestApp,
  json,
  login,
  loginAdmin,
  newUser,
  PASSWORD,
} from '../../test/helpers.js'
import { postgresAvailable, tempDatabase } from '../../test/postgres.js'
import { tempDir } from '../../test/process.js'
import { redisAvailable, TEST_REDIS_URL } from '../../test/redis.js'

/**
 * A client address no other test uses (the limits count by address), from a random start:
 * counters kept in Redis outlive a run, and other runs share that Redis.
 */
let clients = randomInt(1, 1 << 22)
const newClient = () => {
  clients += 1
  return `10.${(clients >> 16) & 0xff}.${(clients >> 8) & 0xff}.${clients & 0xff}`
}

const WRONG = 'not the password at all'

function loginFrom(
  app: FastifyInstance,
  client: string,
  username: string,
  password: string,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    remoteAddress: client,
    payload: { username, password },
  })
}

function basicFrom(
  app: FastifyInstance,
  client: string,
  username: string,
  password: string,
): Promise<LightMyRequestResponse> {
  return app.inject({
    url: '/api/v1/private',
    remoteAddress: client,
    headers: basic(username, password),
  })
}

function expectThrottled(response: LightMyRequestResponse): void {
  expectProblem(response, 429, 'Too many requests')
  const retryAfter = Number(response.headers['retry-after'])
  expect(retryAfter).toBeGreaterThan(0)
}

async function auditFailures(app: FastifyInstance, username: string) {
  const admin = await loginAdmin(app)
  const response = await app.inject({
    url: '/api/v1/audit?kind=login.failure&limit=100',
    headers: admin.headers,
  })
  const items = json<{ items: { detail: Record<string, string> }[] }>(response).items
  return items.filter((item) => item.detail.username === username)
}

describe('guessing credentials (API.md §3), RATE_LIMIT=true', async () => {
  const { app } = await buildTestApp({ RATE_LIMIT: 'true' })

  it('10 wrong passwords for one account from one client: the 11th try is 429 even with the right password, and another client still gets in', async () => {
    const user = await newUser(app)
    const attacker = newClient()
    for (let i = 1; i <= 10; i++) {
      const response = await loginFrom(app, attacker, user.username, WRONG)
      expectProblem(response, 401, 'Invalid username or password')
    }
    const held = await loginFrom(app, attacker, user.username, PASSWORD)
    expectThrottled(held)
    expect(Number(held.headers['retry-after'])).toBeLessThanOrEqual(60)
    // The same client and account through Basic: one mechanism, one count.
    expectThrottled(await basicFrom(app, attacker, user.username, PASSWORD))
    // Another account from that client, and this account from another client, are let in.
    const other = await newUser(app)
    expect((await loginFrom(app, attacker, other.username, PASSWORD)).statusCode).toBe(200)
    expect((await loginFrom(app, newClient(), user.username, PASSWORD)).statusCode).toBe(200)
  })

  it('right passwords do not count: 15 logins in a row from one client all succeed', async () => {
    const user = await newUser(app)
    const client = newClient()
    for (let i = 0; i < 15; i++) {
      expect((await loginFrom(app, client, user.username, PASSWORD)).statusCode).toBe(200)
    }
  })

  it('Basic on any route counts: 10 wrong Basic passwords, then the right one (cached from before) is 429, and every failure is audited', async () => {
    const user = await newUser(app)
    const client = newClient()
    // A success first, so the right password is in the Basic cache: the cache must not get past the limit.
    expect((await basicFrom(app, client, user.username, PASSWORD)).statusCode).toBe(200)
    for (let i = 1; i <= 10; i++) {
      const response = await basicFrom(app, client, user.username, WRONG)
      expectProblem(response, 401)
    }
    expectThrottled(await basicFrom(app, client, user.username, PASSWORD))
    expectThrottled(await loginFrom(app, client, user.username, PASSWORD))
    const failures = await auditFailures(app, user.username)
    expect(failures).toHaveLength(10)
    expect(failures.every((failure) => failure.detail.scheme === 'basic')).toBe(true)
    expect(failures.every((failure) => failure.detail.ip === client)).toBe(true)
  })

  it('an answer of 429 is not audited as a failure and costs no check', async () => {
    const user = await newUser(app)
    const client = newClient()
    for (let i = 1; i <= 10; i++) await loginFrom(app, client, user.username, WRONG)
    for (let i = 1; i <= 5; i++) expectThrottled(await loginFrom(app, client, user.username, WRONG))
    expect(await auditFailures(app, user.username)).toHaveLength(10)
  })

  it('a wrong current_password counts: the 11th password change is 429 even with the right one', async () => {
    const user = await newUser(app)
    const client = newClient()
    const change = (current: string) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/profile/password',
        remoteAddress: client,
        headers: user.headers,
        payload: { current_password: current, new_password: 'a brand new password here' },
      })
    for (let i = 1; i <= 10; i++) expectProblem(await change(WRONG), 401)
    expectThrottled(await change(PASSWORD))
    const failures = await auditFailures(app, user.username)
    expect(failures.map((failure) => failure.detail.scheme)).toContain('current_password')
  })

  it('password spraying: 30 failures from one client over many accounts, then 429 for any account from it', async () => {
    const sprayer = newClient()
    for (let i = 1; i <= 30; i++) {
      const response = await loginFrom(app, sprayer, `sprayed-${i}-${clients}`, WRONG)
      expectProblem(response, 401)
    }
    const user = await newUser(app)
    expectThrottled(await loginFrom(app, sprayer, user.username, PASSWORD))
    expect((await loginFrom(app, newClient(), user.username, PASSWORD)).statusCode).toBe(200)
  })

  it('100 failures on one account from many clients lock out new clients, never the owner from a client they used before', async () => {
    const owner = await newUser(app)
    const home = newClient()
    expect((await loginFrom(app, home, owner.username, PASSWORD)).statusCode).toBe(200)
    const attackers = Array.from({ length: 100 }, newClient)
    const responses = await Promise.all(
      attackers.map((client) => loginFrom(app, client, owner.username, WRONG)),
    )
    expect(responses.map((response) => response.statusCode)).toEqual(attackers.map(() => 401))
    // A fresh client, even with the right password, is held back for the hour.
    const fresh = await loginFrom(app, newClient(), owner.username, PASSWORD)
    expectThrottled(fresh)
    expect(Number(fresh.headers['retry-after'])).toBeGreaterThan(60)
    // The owner's own client is let in, by login and by Basic.
    expect((await loginFrom(app, home, owner.username, PASSWORD)).statusCode).toBe(200)
    expect((await basicFrom(app, home, owner.username, PASSWORD)).statusCode).toBe(200)
    // ...until it fails 10 times itself.
    for (let i = 1; i <= 10; i++) await loginFrom(app, home, owner.username, WRONG)
    expectThrottled(await loginFrom(app, home, owner.username, PASSWORD))
  })

  it('concurrent guesses cannot slip under a limit: of 40 at once from one client, at most 10 are checked', async () => {
    const user = await newUser(app)
    const client = newClient()
    const responses = await Promise.all(
      Array.from({ length: 40 }, () => loginFrom(app, client, user.username, WRONG)),
    )
    const statuses = responses.map((response) => response.statusCode)
    expect(statuses.filter((status) => status === 401)).toHaveLength(10)
    expect(statuses.filter((status) => status === 429)).toHaveLength(30)
  })

  it('an IPv6 client is its /64', async () => {
    const user = await newUser(app)
    clients += 1
    const prefix = `2001:db8:${(clients & 0xffff).toString(16)}:7`
    for (let i = 1; i <= 10; i++) {
      const response = await loginFrom(app, `${prefix}::${i.toString(16)}`, user.username, WRONG)
      expectProblem(response, 401)
    }
    expectThrottled(await loginFrom(app, `${prefix}:ffff:ffff:ffff:fffe`, user.username, PASSWORD))
    expectThrottled(await loginFrom(app, `${prefix}:0:0:0:1`, user.username, PASSWORD))
    // The neighbouring /64 is another client.
    const neighbour = `2001:db8:${(clients & 0xffff).toString(16)}:8::1`
    expect((await loginFrom(app, neighbour, user.username, PASSWORD)).statusCode).toBe(200)
  })

  it('refused tokens and API keys count against the client’s request limit: after 600 in a minute, 429', async () => {
    const client = newClient()
    const guesses = Array.from({ length: 600 }, (_, i) =>
      app.inject({
        url: '/api/v1/private',
        remoteAddress: client,
        headers: bearer(i % 2 === 0 ? `gh_guess${i}` : `eyJ.guess.${i}`),
      }),
    )
    for (const response of await Promise.all(guesses)) expectProblem(response, 401)
    expectThrottled(
      await app.inject({
        url: '/api/v1/private',
        remoteAddress: client,
        headers: bearer('gh_more'),
      }),
    )
    // Sending no credentials to a route that needs them counts too.
    expectThrottled(await app.inject({ url: '/api/v1/private', remoteAddress: client }))
  })

  it('an IPv4-mapped IPv6 address is that IPv4 client', async () => {
    const user = await newUser(app)
    const client = newClient()
    for (let i = 1; i <= 10; i++) await loginFrom(app, `::ffff:${client}`, user.username, WRONG)
    expectThrottled(await loginFrom(app, client, user.username, PASSWORD))
  })
})

describe('guessing credentials, RATE_LIMIT=false', async () => {
  const { app } = await buildTestApp({ RATE_LIMIT: 'false' })

  it('turns the limits off', async () => {
    const user = await newUser(app)
    const client = newClient()
    for (let i = 1; i <= 12; i++) await loginFrom(app, client, user.username, WRONG)
    expect((await loginFrom(app, client, user.username, PASSWORD)).statusCode).toBe(200)
  })

  it('password checks wait in a bounded queue: a flood beyond it is answered 503 at once, not queued', async () => {
    const flood = await Promise.all(
      Array.from({ length: 300 }, (_, i) => loginFrom(app, newClient(), `flood-${i}`, WRONG)),
    )
    const statuses = flood.map((response) => response.statusCode)
    const refused = flood.filter((response) => response.statusCode === 503)
    expect(statuses.filter((status) => status === 401).length).toBeGreaterThan(100)
    expect(refused.length).toBeGreaterThan(0)
    expect(statuses.every((status) => status === 401 || status === 503)).toBe(true)
    const problem = expectProblem(refused[0] as LightMyRequestResponse, 503, 'Service unavailable')
    expect(problem.detail).toMatch(/retry/i)
    expect(refused[0]?.headers['retry-after']).toBe('1')
  })
})

describe('Basic credentials are checked like any other input', async () => {
  const { app } = await buildTestApp()
  const user = await newUser(app)

  it.each([
    ['a NUL in the username', `${user.username}\0x`],
    ['a control character in the username', `${user.username}\n`],
    ['a username no account can have', 'Ünïcode name that is far too long for any account at all'],
  ])('%s is 401 with the Basic challenge, never 500', async (_name, username) => {
    const response = await app.inject({
      url: '/api/v1/private',
      headers: basic(username, PASSWORD),
    })
    expectProblem(response, 401)
    expect(response.headers['www-authenticate']).toMatch(/^Basic /)
  })

  it('a password with a control character that registration took works over Basic too', async () => {
    const password = 'tab\there, a password registration takes'
    const name = `tab${randomBytes(3).toString('hex')}`
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { username: name, password, name: 'Tab' },
    })
    expect(created.statusCode).toBe(201)
    const response = await app.inject({ url: '/api/v1/private', headers: basic(name, password) })
    expect(response.statusCode, response.body).toBe(200)
  })

  it('undecodable base64 is 401', async () => {
    const response = await app.inject({
      url: '/api/v1/private',
      headers: { authorization: 'Basic ***not base64***' },
    })
    expectProblem(response, 401)
  })

  it('a password that is not UTF-8 is read as ISO-8859-1, as Python requests sends it', async () => {
    const password = 'pässwörd für Gatehouse'
    const name = `latin${randomBytes(3).toString('hex')}`
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { username: name, password, name: 'Latin' },
    })
    expect(created.statusCode).toBe(201)
    const latin1 = Buffer.concat([Buffer.from(`${name}:`), Buffer.from(password, 'latin1')])
    const response = await app.inject({
      url: '/api/v1/private',
      headers: { authorization: `Basic ${latin1.toString('base64')}` },
    })
    expect(response.statusCode, response.body).toBe(200)
  })
})

describe('ambient Basic credentials on a cross-site write', async () => {
  const { app } = await buildTestApp({ PUBLIC_URL: 'https://gatehouse.example' })
  const user = await newUser(app)
  const todos = async () =>
    json<{ items: unknown[] }>(await app.inject({ url: '/api/v1/todos', headers: user.headers }))
      .items.length

  it.each([
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['Origin: null', { origin: 'null' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
  ])('%s is 403 and changes nothing', async (_name, headers) => {
    const before = await todos()
    const create = await app.inject({
      method: 'POST',
      url: '/api/v1/todos',
      headers: { ...basic(user.username, PASSWORD), ...headers },
      payload: { title: 'planted' },
    })
    expectProblem(create, 403, 'Forbidden')
    // A body-less write: end every other session.
    const other = await login(app, user.username, PASSWORD)
    const end = await app.inject({
      method: 'DELETE',
      url: '/api/v1/profile/sessions',
      headers: { ...basic(user.username, PASSWORD), ...headers },
    })
    expectProblem(end, 403)
    expect(await todos()).toBe(before)
    expect((await app.inject({ url: '/api/v1/private', headers: other.headers })).statusCode).toBe(
      200,
    )
  })

  it('the service’s own origin, a same-site fetch, no Origin at all (curl, requests) and a GET are let through', async () => {
    for (const headers of [
      { origin: 'https://gatehouse.example' },
      { 'sec-fetch-site': 'same-origin' },
      {},
    ]) {
      const create = await app.inject({
        method: 'POST',
        url: '/api/v1/todos',
        headers: { ...basic(user.username, PASSWORD), ...headers },
        payload: { title: 'mine' },
      })
      expect(create.statusCode, create.body).toBe(201)
    }
    const read = await app.inject({
      url: '/api/v1/private',
      headers: { ...basic(user.username, PASSWORD), origin: 'https://evil.example' },
    })
    expect(read.statusCode).toBe(200)
  })

  it('a Bearer token is not ambient: a foreign Origin does not matter to it', async () => {
    const create = await app.inject({
      method: 'POST',
      url: '/api/v1/todos',
      headers: { ...bearer(user.accessToken), origin: 'https://evil.example' },
      payload: { title: 'from an allowed CORS caller or a script' },
    })
    expect(create.statusCode).toBe(201)
  })
})

describe.runIf(await postgresAvailable())('on PostgreSQL', async () => {
  if (skipSuite(!onPostgres, 'PostgreSQL only: in the postgres run')) return
  const database = await tempDatabase()
  const { app } = await buildTestApp({ DATABASE_URL: database.url })

  it('a NUL in a Basic username or a login username is a 4xx, never a 500', async () => {
    expectProblem(
      await app.inject({ url: '/api/v1/private', headers: basic(`${ADMIN.username}\0`, 'x') }),
      401,
    )
    const response = await loginFrom(app, newClient(), `${ADMIN.username}\0`, 'x')
    expect(response.statusCode).toBeGreaterThanOrEqual(400)
    expect(response.statusCode).toBeLessThan(500)
  })
})

describe.runIf(await redisAvailable())('counters shared through Redis', async () => {
  const dir = tempDir()
  const env = { RATE_LIMIT: 'true', REDIS_URL: TEST_REDIS_URL }
  const first = await buildAppAt(dir, env)
  const second = await buildAppAt(dir, env)

  it('failures on two instances add up: 5 + 5, then 429 on either', async () => {
    const attacker = newClient()
    const username = `shared${randomBytes(6).toString('hex')}`
    const created = await first.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      remoteAddress: attacker,
      payload: { username, password: PASSWORD, name: 'Shared' },
    })
    expect(created.statusCode).toBe(201)
    const user = { username }
    for (let i = 1; i <= 5; i++)
      expectProblem(await loginFrom(first, attacker, user.username, WRONG), 401)
    for (let i = 1; i <= 5; i++)
      expectProblem(await loginFrom(second, attacker, user.username, WRONG), 401)
    expectThrottled(await loginFrom(first, attacker, user.username, PASSWORD))
    expectThrottled(await basicFrom(second, attacker, user.username, PASSWORD))
    await first.close()
    await second.close()
  })
})
