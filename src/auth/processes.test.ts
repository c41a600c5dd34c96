import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import {
  buildAppAt,
  expectBasicChallenge,
  expectInvalidToken,
  expectProblem,
  refreshRaw,
} from '../../test/auth.js'
import { onPostgres, skipSuite } from '../../test/database.js'
import { basic, bearer, json, login, loginAdmin, newUser, PASSWORD } from '../../test/helpers.js'
import { decodeJwt } from '../../test/jwt.js'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

/**
 * Two processes on one database with no Redis (API.md §12: WORKERS=N on SQLite, or the
 * gatehouse command beside a running server): each has its own connection and caches, and a
 * change made through one is refused by the other at once, with no wait in between.
 */
describe('two processes on one database, no Redis', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-processes-'))
  const a = await buildAppAt(dataDir)
  const b = await buildAppAt(dataDir)
  afterAll(async () => {
    await a.close()
    await b.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  const admin = await loginAdmin(a)

  const private_ = (app: FastifyInstance, headers: Record<string, string>) =>
    app.inject({ url: '/api/v1/private', headers })
  const patchUser = (id: string, payload: Record<string, unknown>) =>
    a.inject({ method: 'PATCH', url: `/api/v1/users/${id}`, headers: admin.headers, payload })

  it('a logout on A is refused on B, and its refresh token too', async () => {
    const user = await newUser(a)
    expect((await private_(b, user.headers)).statusCode).toBe(200)
    const logout = await a.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: user.headers,
      payload: { refresh_token: user.refreshToken },
    })
    expect(logout.statusCode).toBe(204)
    expectInvalidToken(await private_(b, user.headers))
    expectProblem(await refreshRaw(b, user.refreshToken), 401)
  })

  it('a session ended on A (DELETE, password change) is refused on B', async () => {
    const user = await newUser(a)
    const other = await login(a, user.username, PASSWORD)
    const third = await login(a, user.username, PASSWORD)
    expect((await private_(b, other.headers)).statusCode).toBe(200)
    expect((await private_(b, basic(user.username, PASSWORD))).statusCode).toBe(200)
    const sid = String(decodeJwt(other.accessToken).payload.sid)
    const ended = await a.inject({
      method: 'DELETE',
      url: `/api/v1/profile/sessions/${sid}`,
      headers: user.headers,
    })
    expect(ended.statusCode).toBe(204)
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
    // B had verified the old password once: it must not take it from its cache now.
    expectBasicChallenge(await private_(b, basic(user.username, PASSWORD)))
  })

  it('disabling on A stops the token, Basic credentials and API keys on B', async () => {
    const user = await newUser(a)
    const { key } = json<{ key: string }>(
      await a.inject({
        method: 'POST',
        url: '/api/v1/profile/api-keys',
        headers: user.headers,
        payload: { name: 'processes' },
      }),
    )
    for (const headers of [user.headers, basic(user.username, PASSWORD), bearer(key)]) {
      expect((await private_(b, headers)).statusCode).toBe(200)
    }
    expect((await patchUser(user.id, { disabled: true })).statusCode).toBe(200)
    expectInvalidToken(await private_(b, user.headers))
    expectBasicChallenge(await private_(b, basic(user.username, PASSWORD)))
    expectInvalidToken(await private_(b, bearer(key)))
    // Re-enabled, the ended session and the deleted key stay refused.
    expect((await patchUser(user.id, { disabled: false })).statusCode).toBe(200)
    expectInvalidToken(await private_(b, user.headers))
    expectInvalidToken(await private_(b, bearer(key)))
  })

  it('demotion on A takes admin away on B, and promotion gives it', async () => {
    const user = await newUser(a)
    expectProblem(
      await b.inject({ url: '/api/v1/users', headers: user.headers }),
      403,
      'Admins only',
    )
    expect((await patchUser(user.id, { role: 'admin' })).statusCode).toBe(200)
    expect((await b.inject({ url: '/api/v1/users', headers: user.headers })).statusCode).toBe(200)
    expect((await patchUser(user.id, { role: 'user' })).statusCode).toBe(200)
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
        payload: { name: 'processes' },
      }),
    )
    expect((await private_(b, bearer(created.key))).statusCode).toBe(200)
    const deleted = await a.inject({
      method: 'DELETE',
      url: `/api/v1/profile/api-keys/${created.id}`,
      headers: user.headers,
    })
    expect(deleted.statusCode).toBe(204)
    expectInvalidToken(await private_(b, bearer(created.key)))
  })

  it('a user deleted on A is gone on B', async () => {
    const user = await newUser(a)
    expect((await private_(b, user.headers)).statusCode).toBe(200)
    const deleted = await a.inject({
      method: 'DELETE',
      url: `/api/v1/users/${user.id}`,
      headers: admin.headers,
    })
    expect(deleted.statusCode).toBe(204)
    expectInvalidToken(await private_(b, user.headers))
  })
})

/**
 * Whatever writes the SQLite file — the gatehouse command, an operator's sqlite3 shell — a
 * running server sees the change on its next request: the journal's triggers record it.
 */
describe('a change another program writes to the SQLite file', async () => {
  if (skipSuite(onPostgres, 'SQLite only: another program writing the file')) return
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-writer-'))
  const file = path.join(dataDir, 'test.db')
  const server = await buildAppAt(dataDir)
  afterAll(async () => {
    await server.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  /** Runs SQL in a separate node process through better-sqlite3, as another program would. */
  function writeInAnotherProcess(statements: string): void {
    const script = `
      const Database = require('better-sqlite3')
      const db = new Database(process.argv[1], { timeout: 10000 })
      db.exec(process.argv[2])
      db.close()
    `
    const result = spawnSync(process.execPath, ['-e', script, file, statements], {
      cwd: path.resolve(HERE, '../..'),
      encoding: 'utf8',
    })
    expect(result.status, result.stderr).toBe(0)
  }

  const private_ = (headers: Record<string, string>) =>
    server.inject({ url: '/api/v1/private', headers })
  const quoted = (text: string) => `'${text.replaceAll("'", "''")}'`

  it('demotion, disabling, a revoked session and a deleted key are refused at once', async () => {
    const user = await newUser(server)
    const second = await login(server, user.username, PASSWORD)
    const { key } = json<{ key: string }>(
      await server.inject({
        method: 'POST',
        url: '/api/v1/profile/api-keys',
        headers: user.headers,
        payload: { name: 'writer' },
      }),
    )
    const id = quoted(user.id)
    writeInAnotherProcess(`update users set role = 'admin' where id = ${id}`)
    expect((await server.inject({ url: '/api/v1/users', headers: user.headers })).statusCode).toBe(
      200,
    )
    writeInAnotherProcess(`update users set role = 'user' where id = ${id}`)
    expectProblem(
      await server.inject({ url: '/api/v1/users', headers: user.headers }),
      403,
      'Admins only',
    )

    expect((await private_(bearer(key))).statusCode).toBe(200)
    writeInAnotherProcess(`delete from api_keys where user_id = ${id}`)
    expectInvalidToken(await private_(bearer(key)))

    const sid = quoted(String(decodeJwt(second.accessToken).payload.sid))
    expect((await private_(second.headers)).statusCode).toBe(200)
    writeInAnotherProcess(
      `update sessions set revoked_at = '2026-01-01T00:00:00.000Z' where id = ${sid}`,
    )
    expectInvalidToken(await private_(second.headers))

    expect((await private_(user.headers)).statusCode).toBe(200)
    writeInAnotherProcess(`update users set disabled = 1 where id = ${id}`)
    expectInvalidToken(await private_(user.headers))
  })

  it('a server further behind than the journal keeps drops every cache and still refuses', async () => {
    const user = await newUser(server)
    const id = quoted(user.id)
    writeInAnotherProcess(`update users set role = 'admin' where id = ${id}`)
    expect((await server.inject({ url: '/api/v1/users', headers: user.headers })).statusCode).toBe(
      200,
    )
    // The demotion, then more changes than the journal keeps: the demotion's entry is pruned.
    writeInAnotherProcess(`
      begin;
      update users set role = 'user' where id = ${id};
      with recursive n(i) as (select 1 union all select i + 1 from n where i < 10001)
        insert into auth_changes (kind, subject) select 'user', 'nobody' from n;
      commit;`)
    expectProblem(
      await server.inject({ url: '/api/v1/users', headers: user.headers }),
      403,
      'Admins only',
    )
  })
})
