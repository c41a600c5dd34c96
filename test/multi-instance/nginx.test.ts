import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { onPostgres, skipSuite } from '../database.js'
import { createDatabase, dropDatabase } from '../postgres-admin.js'
import { ADMIN_ENV, removeDir, type ServerProcess, startServer, tempDir } from '../process.js'
import { startSmtpServer } from '../smtp.js'
import { describeMultiProcessContract, type Service } from './contract.js'
import { nginxBinary, startNginx } from './nginx.js'
import { type OwnRedis, redisServerInstalled, startOwnRedis } from './redis-server.js'

/**
 * Three instances (`node dist/gatehouse.js`, as `npm start` runs one) on one PostgreSQL database
 * and one Redis, behind nginx configured by deploy/nginx.conf: API.md §12 against nginx's
 * address. It runs in the postgres project only: it makes its own database, so a second run in
 * the sqlite project would test the same thing again. Where nginx or redis-server is missing it
 * skips with one line, unless GATEHOUSE_REQUIRE_MULTI_INSTANCE=1 or CI=true (.ci/run) make that
 * a failure.
 */
const INSTANCES = 3
const required = process.env.GATEHOUSE_REQUIRE_MULTI_INSTANCE === '1' || process.env.CI === 'true'
const missing = [
  ...(nginxBinary() === undefined ? ['nginx'] : []),
  ...(redisServerInstalled() ? [] : ['redis-server']),
]

interface Deployment extends Service {
  readonly instances: readonly ServerProcess[]
  readonly redis: OwnRedis
}

async function deploy(): Promise<Deployment> {
  const dir = tempDir('gatehouse-multi-')
  const database = await createDatabase()
  const redis = await startOwnRedis()
  const smtp = await startSmtpServer()
  // One JWT_SECRET for all: every instance must sign and verify with the same key (DEPLOY.md).
  const env = {
    ...ADMIN_ENV,
    DATABASE_URL: database.url,
    REDIS_URL: redis.url,
    SMTP_URL: smtp.url,
    JWT_SECRET: 'a shared secret for every instance, at least 32 bytes long',
    TRUSTED_PROXIES: '127.0.0.1',
    DATA_DIR: dir,
  }
  const instances: ServerProcess[] = []
  // One by one: the first migrates the empty database and creates the admin.
  for (let i = 0; i < INSTANCES; i++) instances.push(await startServer(env, dir))
  const nginx = await startNginx(
    instances.map((instance) => `127.0.0.1:${instance.port}`),
    dir,
  )
  return {
    baseUrl: nginx.url,
    smtp,
    instances,
    redis,
    requestsPerProcess: () =>
      instances.map(
        (instance) => instance.logLines().filter((line) => line.msg === 'request').length,
      ),
    async stop() {
      await nginx.stop()
      await Promise.all(instances.map((instance) => instance.stop()))
      await redis.kill()
      await smtp.close()
      await dropDatabase(database.name)
      removeDir(dir)
    },
  }
}

if (onPostgres && missing.length > 0 && required) {
  throw new Error(`multi-instance tests required, but ${missing.join(' and ')} missing`)
}
const skipped = !onPostgres || missing.length > 0
const why = !onPostgres
  ? 'needs PostgreSQL: runs in the postgres project'
  : `${missing.join(' and ')} not installed`

describe('three instances behind nginx on PostgreSQL and Redis', async () => {
  if (skipSuite(skipped, why)) return
  describeMultiProcessContract('API.md §12 through nginx', deploy)
  describe('Redis away and back', redisAwayAndBack)
})

function redisAwayAndBack(): void {
  // Started before the first test (see contract.ts).
  let deployment: Deployment | undefined
  beforeAll(async () => {
    deployment = await deploy()
  })
  afterAll(() => deployment?.stop())
  const started = (): Deployment => {
    if (deployment === undefined) throw new Error('the deployment did not start')
    return deployment
  }
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(started().baseUrl + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
  const privateWith = (token: string) =>
    fetch(`${started().baseUrl}/api/v1/private`, { headers: { authorization: `Bearer ${token}` } })
  const username = `away${Date.now().toString(36)}`
  const password = 'a perfectly fine test password'
  const loginOnce = async () => {
    const answer = await post('/api/v1/auth/login', { username, password })
    expect(answer.status).toBe(200)
    return ((await answer.json()) as { access_token: string }).access_token
  }
  /** Nine requests in turn, each answered within `ms`: nothing waits for a Redis that is away. */
  const quickly = async (request: () => Promise<Response>, ms = 2000) => {
    const statuses: number[] = []
    for (let i = 0; i < 9; i++) {
      const started = Date.now()
      const response = await request()
      await response.arrayBuffer()
      expect(Date.now() - started).toBeLessThan(ms)
      statuses.push(response.status)
    }
    return statuses
  }

  it('while Redis hangs (connected, not answering), requests still answer at once', async () => {
    const user = `hang${Date.now().toString(36)}`
    expect(
      (await post('/api/v1/auth/register', { username: user, password, name: 'Hang' })).status,
    ).toBe(201)
    const answer = await post('/api/v1/auth/login', { username: user, password })
    const token = ((await answer.json()) as { access_token: string }).access_token
    const revoked = (
      (await (await post('/api/v1/auth/login', { username: user, password })).json()) as {
        access_token: string
      }
    ).access_token
    expect(
      (await post('/api/v1/auth/logout', {}, { authorization: `Bearer ${revoked}` })).status,
    ).toBe(204)
    started().redis.pause()
    try {
      expect(await quickly(() => privateWith(token))).toEqual(Array(9).fill(200))
      expect(await quickly(() => privateWith(revoked))).toEqual(Array(9).fill(401))
    } finally {
      started().redis.resume()
    }
    expect(await quickly(() => privateWith(token))).toEqual(Array(9).fill(200))
    expect(await quickly(() => privateWith(revoked))).toEqual(Array(9).fill(401))
  })

  it('while Redis is away: revoked tokens stay refused, the rest works, no 500, no waiting', async () => {
    expect((await post('/api/v1/auth/register', { username, password, name: 'Away' })).status).toBe(
      201,
    )
    const revokedBefore = await loginOnce()
    expect(
      (await post('/api/v1/auth/logout', {}, { authorization: `Bearer ${revokedBefore}` })).status,
    ).toBe(204)
    const live = await loginOnce()

    await started().redis.kill()
    expect(await quickly(() => privateWith(revokedBefore))).toEqual(Array(9).fill(401))
    expect(await quickly(() => privateWith(live))).toEqual(Array(9).fill(200))
    // A logout during the outage is refused by every instance, through the database.
    const revokedDuring = await loginOnce()
    expect(await quickly(() => privateWith(revokedDuring))).toEqual(Array(9).fill(200))
    expect(
      (await post('/api/v1/auth/logout', {}, { authorization: `Bearer ${revokedDuring}` })).status,
    ).toBe(204)
    expect(await quickly(() => privateWith(revokedDuring))).toEqual(Array(9).fill(401))
    // Readiness says so (503, a problem that names Redis and nothing more).
    const ready = await fetch(`${started().baseUrl}/readyz`)
    expect(ready.status).toBe(503)
    expect(await ready.text()).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|stack/)
    // No answer was a 500 on any instance.
    for (const instance of started().instances) {
      const failures = instance.logLines().filter((line) => Number(line.status) >= 500)
      expect(failures.filter((line) => line.url !== '/readyz')).toEqual([])
    }

    // Each instance counts credential guesses on its own meanwhile: still limited, never open.
    const client = '198.19.0.1'
    const guesses = await quickly(() =>
      post(
        '/api/v1/auth/login',
        { username, password: 'wrong guess' },
        { 'x-forwarded-for': client },
      ),
    )
    expect(guesses.every((status) => status === 401 || status === 429)).toBe(true)
    const more: number[] = []
    for (let i = 0; i < 3 * 10; i++) {
      more.push(
        (
          await post(
            '/api/v1/auth/login',
            { username, password: 'wrong guess' },
            { 'x-forwarded-for': client },
          )
        ).status,
      )
    }
    expect(more).toContain(429)

    // Redis is back, empty (a restart lost every key): revocations made before and during the
    // outage are still refused, and the shared counts work again, without a restart.
    await started().redis.start()
    // Each instance finds it on its next reconnection attempt, at most a second apart.
    const deadline = Date.now() + 10_000
    const readiness = () =>
      Promise.all(
        started().instances.map(async (instance) => (await fetch(`${instance.url}/readyz`)).status),
      )
    while ((await readiness()).some((status) => status !== 200) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(await readiness()).toEqual(Array(started().instances.length).fill(200))
    for (const token of [revokedBefore, revokedDuring]) {
      expect(await quickly(() => privateWith(token))).toEqual(Array(9).fill(401))
    }
    expect(await quickly(() => privateWith(live))).toEqual(Array(9).fill(200))
    // After the catch-up's grace period Redis alone answers again: still refused.
    await new Promise((resolve) => setTimeout(resolve, 3500))
    for (const token of [revokedBefore, revokedDuring]) {
      expect(await quickly(() => privateWith(token))).toEqual(Array(9).fill(401))
    }
    const freshClient = '198.19.0.2'
    const shared = await quickly(() =>
      post(
        '/api/v1/auth/login',
        { username, password: 'wrong guess' },
        { 'x-forwarded-for': freshClient },
      ),
    )
    expect(shared).toEqual(Array(9).fill(401))
    const tenth = await post(
      '/api/v1/auth/login',
      { username, password: 'wrong guess' },
      { 'x-forwarded-for': freshClient },
    )
    expect(tenth.status).toBe(401)
    const held = await post(
      '/api/v1/auth/login',
      { username, password },
      { 'x-forwarded-for': freshClient },
    )
    expect(held.status).toBe(429)
  })
}
