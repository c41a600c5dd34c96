import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import {
  buildAppAt,
  expectBasicChallenge,
  expectInvalidToken,
  expectProblem,
  listen,
  refreshRaw,
  sleep,
} from '../../test/auth.js'
import { onPostgres, skipSuite } from '../../test/database.js'
import { basic, bearer, json, login, loginAdmin, newUser, PASSWORD } from '../../test/helpers.js'
import { decodeJwt } from '../../test/jwt.js'

/**
 * Two instances over one database with REDIS_URL (API.md §1: "shared rate limits and
 * revocations across instances"): a change made through one takes effect at once on the other.
 */
describe('two instances sharing a database and Redis', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-shared-'))
  const env = { REDIS_URL: 'redis://127.0.0.1:6379' }
  const a = await buildAppAt(dataDir, env)
  const b = await buildAppAt(dataDir, env)
  afterAll(async () => {
    await a.close()
    await b.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  const admin = await loginAdmin(a)

  const private_ = (app: FastifyInstance, headers: Record<string, string>) =>
    app.inject({ url: '/api/v1/private', headers })

  it('a token logged out on A is refused on B', async () => {
    const user = await newUser(a)
    expect((await private_(b, user.headers)).statusCode).toBe(200)
    expect(
      (await a.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: user.headers }))
        .statusCode,
    ).toBe(204)
    expectInvalidToken(await private_(b, user.headers))
  })

  it('a session ended on A (DELETE, password change) is refused on B', async () => {
    const user = await newUser(a)
    const other = await login(a, user.username, PASSWORD)
    const third = await login(a, user.username, PASSWORD)
    expect((await private_(b, other.headers)).statusCode).toBe(200)
    const sid = String(decodeJwt(other.accessToken).payload.sid)
    expect(
      (
        await a.inject({
          method: 'DELETE',
          url: `/api/v1/profile/sessions/${sid}`,
          headers: user.headers,
        })
      ).statusCode,
    ).toBe(204)
    expectInvalidToken(await private_(b, other.headers))

    expect((await private_(b, third.headers)).statusCode).toBe(200)
    const change = await a.inject({
      method: 'POST',
      url: '/api/v1/profile/password',
      headers: user.headers,
      payload: { current_password: PASSWORD, new_password: 'another fine password' },
    })
    expect(change.statusCode).toBe(204)
    expectInvalidToken(await private_(b, third.headers))
    expect((await private_(b, user.headers)).statusCode).toBe(200)
  })

  it('disabling on A stops the token and Basic credentials on B', async () => {
    const user = await newUser(a)
    expect((await private_(b, user.headers)).statusCode).toBe(200)
    expect((await private_(b, basic(user.username, PASSWORD))).statusCode).toBe(200)
    const patch = await a.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: admin.headers,
      payload: { disabled: true },
    })
    expect(patch.statusCode).toBe(200)
    expectInvalidToken(await private_(b, user.headers))
    expectBasicChallenge(await private_(b, basic(user.username, PASSWORD)))
  })

  it('demotion on A takes admin away on B', async () => {
    const user = await newUser(a)
    const promote = (role: string) =>
      a.inject({
        method: 'PATCH',
        url: `/api/v1/users/${user.id}`,
        headers: admin.headers,
        payload: { role },
      })
    expect((await promote('admin')).statusCode).toBe(200)
    expect((await b.inject({ url: '/api/v1/users', headers: user.headers })).statusCode).toBe(200)
    expect((await promote('user')).statusCode).toBe(200)
    expectProblem(
      await b.inject({ url: '/api/v1/users', headers: user.headers }),
      403,
      'Admins only',
    )
  })

  it('an API key deleted on A stops on B', async () => {
    const user = await newUser(a)
    const created = json<{ id: string; key: string }>(
      await a.inject({
        method: 'POST',
        url: '/api/v1/profile/api-keys',
        headers: user.headers,
        payload: { name: 'shared' },
      }),
    )
    expect((await private_(b, bearer(created.key))).statusCode).toBe(200)
    expect(
      (
        await a.inject({
          method: 'DELETE',
          url: `/api/v1/profile/api-keys/${created.id}`,
          headers: user.headers,
        })
      ).statusCode,
    ).toBe(204)
    expectInvalidToken(await private_(b, bearer(created.key)))
  })
})

for (const withRedis of [true, false]) {
  describe(`two instances on PostgreSQL${withRedis ? ' and Redis' : ', no Redis'}`, async () => {
    if (skipSuite(!onPostgres, 'PostgreSQL only: in the postgres run')) return
    const name = `gatehouse_auth_${process.pid}_${Date.now()}`
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${name}`)
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-pg-'))
    const env = {
      DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${name}`,
      DATA_DIR: dataDir,
      ...(withRedis ? { REDIS_URL: 'redis://127.0.0.1:6379' } : {}),
    }
    const a = await buildAppAt(dataDir, env)
    const b = await buildAppAt(dataDir, env)
    const baseA = await listen(a)
    const baseB = await listen(b)
    afterAll(async () => {
      await a.close()
      await b.close()
      // The pools have ended; give their sockets a moment to close before dropping the database.
      await sleep(200)
      await admin.query(`DROP DATABASE IF EXISTS ${name}`).catch(() => undefined)
      await admin.end()
      rmSync(dataDir, { recursive: true, force: true })
    })

    it('of 10 parallel refreshes with one token over both instances, at most one succeeds', async () => {
      const user = await newUser(a)
      for (let round = 0; round < 3; round++) {
        const session = await login(a, user.username, PASSWORD)
        const responses = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            fetch(`${i % 2 === 0 ? baseA : baseB}/api/v1/auth/refresh`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ refresh_token: session.refreshToken }),
            }),
          ),
        )
        const statuses = responses.map((r) => r.status)
        expect(statuses.filter((s) => s === 200).length, String(statuses)).toBeLessThanOrEqual(1)
        expect(
          statuses.every((s) => s === 200 || s === 401),
          String(statuses),
        ).toBe(true)
      }
    })

    it('disabling and demotion on A count on B at once', async () => {
      const admin = await loginAdmin(a)
      const user = await newUser(a)
      const patch = (payload: Record<string, unknown>) =>
        a.inject({
          method: 'PATCH',
          url: `/api/v1/users/${user.id}`,
          headers: admin.headers,
          payload,
        })
      expect((await patch({ role: 'admin' })).statusCode).toBe(200)
      expect((await b.inject({ url: '/api/v1/users', headers: user.headers })).statusCode).toBe(200)
      expect((await patch({ role: 'user' })).statusCode).toBe(200)
      expectProblem(
        await b.inject({ url: '/api/v1/users', headers: user.headers }),
        403,
        'Admins only',
      )
      expect((await patch({ disabled: true })).statusCode).toBe(200)
      expectInvalidToken(await b.inject({ url: '/api/v1/private', headers: user.headers }))
    })

    it('an API key of a user disabled on A stays refused on B after re-enabling', async () => {
      const admin = await loginAdmin(a)
      const user = await newUser(a)
      const { key } = json<{ key: string }>(
        await a.inject({
          method: 'POST',
          url: '/api/v1/profile/api-keys',
          headers: user.headers,
          payload: { name: 'shared' },
        }),
      )
      expect((await b.inject({ url: '/api/v1/private', headers: bearer(key) })).statusCode).toBe(
        200,
      )
      for (const disabled of [true, false]) {
        const patched = await a.inject({
          method: 'PATCH',
          url: `/api/v1/users/${user.id}`,
          headers: admin.headers,
          payload: { disabled },
        })
        expect(patched.statusCode).toBe(200)
        expectInvalidToken(await b.inject({ url: '/api/v1/private', headers: bearer(key) }))
      }
    })

    it('a logout on A counts on B; the user logs in on B', async () => {
      const user = await newUser(a)
      expect((await b.inject({ url: '/api/v1/private', headers: user.headers })).statusCode).toBe(
        200,
      )
      await a.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: user.headers })
      expectInvalidToken(await b.inject({ url: '/api/v1/private', headers: user.headers }))
      expectProblem(await refreshRaw(b, user.refreshToken), 401)
      expect((await login(b, user.username, PASSWORD)).accessToken).toBeTruthy()
    })
  })
}
