import path from 'node:path'
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { expectInvalidToken, expectProblem, sleep } from '../../test/auth.js'
import { onPostgres } from '../../test/database.js'
import {
  bearer,
  buildTestApp,
  json,
  login,
  loginAdmin,
  newUser,
  PASSWORD,
  type Session,
  walkPages,
} from '../../test/helpers.js'
import { openDatabase } from '../core/db.js'
import { up as endKeysOfDisabledUsers } from '../migrations/006_disabled_users_api_keys.js'

interface NewKey {
  id: string
  name: string
  key: string
  prefix: string
  expires_at: string | null
}

describe('/api/v1/profile/api-keys', async () => {
  const { app, dataDir } = await buildTestApp()
  const user = await newUser(app)

  const create = (payload: Record<string, unknown>, headers = user.headers) =>
    app.inject({ method: 'POST', url: '/api/v1/profile/api-keys', headers, payload })

  it('POST: 201 {id, name, key, prefix, expires_at}; key is gh_ + ≥128 random bits', async () => {
    const response = await create({ name: 'laptop' })
    expect(response.statusCode, response.body).toBe(201)
    const created = json<NewKey>(response)
    expect(created).toMatchObject({ name: 'laptop', expires_at: null, id: expect.any(String) })
    expect(created.key).toMatch(/^gh_[A-Za-z0-9_-]+$/)
    expect(Buffer.from(created.key.slice(3), 'base64url').length).toBeGreaterThanOrEqual(16)
    expect(created.key.startsWith(created.prefix)).toBe(true)
    expect(created.prefix.length).toBeLessThan(created.key.length / 2)
    expect(response.headers.location).toBe(`/api/v1/profile/api-keys/${created.id}`)
    const another = json<NewKey>(await create({ name: 'laptop' }))
    expect(another.key).not.toBe(created.key)
  })

  it('the key works as Authorization: Bearer gh_…, as the user', async () => {
    const { key } = json<NewKey>(await create({ name: 'ci' }))
    const response = await app.inject({ url: '/api/v1/profile', headers: bearer(key) })
    expect(response.statusCode).toBe(200)
    expect(json(response).id).toBe(user.id)
    expect((await app.inject({ url: '/api/v1/private', headers: bearer(key) })).statusCode).toBe(
      200,
    )
  })

  it('GET lists the keys without the key (shown once)', async () => {
    const created = json<NewKey>(await create({ name: 'listed' }))
    const response = await app.inject({ url: '/api/v1/profile/api-keys', headers: user.headers })
    expect(response.statusCode).toBe(200)
    expect(response.body).not.toContain(created.key)
    const items = json<{ items: Record<string, unknown>[] }>(response).items
    const listed = items.find((item) => item.id === created.id)
    expect(listed).toMatchObject({ name: 'listed', prefix: created.prefix })
    for (const item of items) {
      expect(item.key).toBeUndefined()
      expect(item.key_hash).toBeUndefined()
    }
    // Another user sees none of them.
    const stranger = await newUser(app)
    const theirs = json<{ items: unknown[] }>(
      await app.inject({ url: '/api/v1/profile/api-keys', headers: stranger.headers }),
    )
    expect(theirs.items).toEqual([])
  })

  it('GET pages newest first: next_cursor and Link until null, every key once', async () => {
    const owner = await newUser(app)
    const ids: string[] = []
    for (const name of ['k1', 'k2', 'k3', 'k4', 'k5']) {
      ids.push(json<NewKey>(await create({ name }, owner.headers)).id)
    }
    const pages = await walkPages<{ id: string }>(
      app,
      '/api/v1/profile/api-keys?limit=2',
      owner.headers,
    )
    expect(pages.map((page) => page.length)).toEqual([2, 2, 1])
    expect(pages.flat().map((item) => item.id)).toEqual([...ids].reverse())
    // The default page holds them all, the last page has next_cursor null and no Link.
    const whole = await app.inject({ url: '/api/v1/profile/api-keys', headers: owner.headers })
    expect(json(whole)).toMatchObject({ next_cursor: null })
    expect(whole.headers.link).toBeUndefined()
  })

  it('GET: limit 0, 101 or not a number, and a cursor the server did not issue are 400', async () => {
    const owner = await newUser(app)
    for (const name of ['a', 'b']) await create({ name }, owner.headers)
    const list = (query: string, headers = owner.headers) =>
      app.inject({ url: `/api/v1/profile/api-keys?${query}`, headers })
    for (const limit of ['0', '101', 'ten']) {
      const body = expectProblem(await list(`limit=${limit}`), 400)
      expect(body.errors?.[0]?.path).toBe('query/limit')
    }
    const cursor = String(json<{ next_cursor: string | null }>(await list('limit=1')).next_cursor)
    const [payload, signature] = cursor.split('.')
    const forged = `${Buffer.from(JSON.stringify(['api-keys', '9999-12-31T00:00:00.000Z', 'z'])).toString('base64url')}.${signature}`
    // The session list's cursors are signed too, but name their own list.
    const sessionsCursor = String(
      json<{ next_cursor: string | null }>(
        await app.inject({
          url: '/api/v1/profile/sessions?limit=1',
          headers: (await login(app, owner.username, PASSWORD)).headers,
        }),
      ).next_cursor,
    )
    for (const bad of [forged, `${payload}.x${signature}`, 'forged', sessionsCursor]) {
      const body = expectProblem(await list(`limit=1&cursor=${encodeURIComponent(bad)}`), 400)
      expect(body.errors?.[0]?.path).toBe('query/cursor')
    }
    expect(json<{ items: unknown[] }>(await list(`limit=1&cursor=${cursor}`)).items).toHaveLength(1)
  })

  it('GET /api-keys/{id}: the key as listed, without the key, with an ETag; 404 for another user’s', async () => {
    const created = await create({ name: 'one of mine' })
    const location = String(created.headers.location)
    const { key, ...listed } = json<NewKey>(created)
    const response = await app.inject({ url: location, headers: user.headers })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.body).not.toContain(key)
    expect(json(response)).toEqual(listed)
    const inList = json<{ items: { id: string }[] }>(
      await app.inject({ url: '/api/v1/profile/api-keys?limit=100', headers: user.headers }),
    ).items.find((item) => item.id === listed.id)
    expect(json(response)).toEqual(inList)
    const etag = String(response.headers.etag)
    expect(etag).toMatch(/^"[^"]+"$/)
    const again = await app.inject({
      url: location,
      headers: { ...user.headers, 'if-none-match': etag },
    })
    expect(again.statusCode).toBe(304)
    expect(again.body).toBe('')
    const stranger = await newUser(app)
    const theirs = expectProblem(
      await app.inject({ url: location, headers: stranger.headers }),
      404,
    )
    expect(theirs.detail).not.toContain(listed.name)
    expectProblem(
      await app.inject({ url: '/api/v1/profile/api-keys/no-such-key', headers: user.headers }),
      404,
    )
    // Deleted: gone here too.
    await app.inject({ method: 'DELETE', url: location, headers: user.headers })
    expectProblem(await app.inject({ url: location, headers: user.headers }), 404)
  })

  it('DELETE with If-Match: 412 once the key has changed (a use), and it still works; 204 when current', async () => {
    const created = await create({ name: 'guarded' })
    const location = String(created.headers.location)
    const { key } = json<NewKey>(created)
    const stale = String((await app.inject({ url: location, headers: user.headers })).headers.etag)
    // A use records last_used_at: another version of the key.
    expect((await app.inject({ url: '/api/v1/private', headers: bearer(key) })).statusCode).toBe(
      200,
    )
    const remove = (ifMatch: string) =>
      app.inject({
        method: 'DELETE',
        url: location,
        headers: { ...user.headers, 'if-match': ifMatch },
      })
    expectProblem(await remove(stale), 412)
    expect((await app.inject({ url: '/api/v1/private', headers: bearer(key) })).statusCode).toBe(
      200,
    )
    const current = String(
      (await app.inject({ url: location, headers: user.headers })).headers.etag,
    )
    expect(current).not.toBe(stale)
    expect((await remove(current)).statusCode).toBe(204)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: bearer(key) }))
  })

  it('DELETE stops the key at once (even right after a use); 404 for another user’s key', async () => {
    const created = json<NewKey>(await create({ name: 'doomed' }))
    expect(
      (await app.inject({ url: '/api/v1/private', headers: bearer(created.key) })).statusCode,
    ).toBe(200)
    const stranger = await newUser(app)
    expectProblem(
      await app.inject({
        method: 'DELETE',
        url: `/api/v1/profile/api-keys/${created.id}`,
        headers: stranger.headers,
      }),
      404,
    )
    expect(
      (await app.inject({ url: '/api/v1/private', headers: bearer(created.key) })).statusCode,
    ).toBe(200)
    const deleted = await app.inject({
      method: 'DELETE',
      url: `/api/v1/profile/api-keys/${created.id}`,
      headers: user.headers,
    })
    expect(deleted.statusCode).toBe(204)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: bearer(created.key) }))
    expectProblem(
      await app.inject({
        method: 'DELETE',
        url: `/api/v1/profile/api-keys/${created.id}`,
        headers: user.headers,
      }),
      404,
    )
  })

  it('an unknown gh_ key is refused', async () => {
    expectInvalidToken(
      await app.inject({ url: '/api/v1/private', headers: bearer(`gh_${'A'.repeat(43)}`) }),
    )
  })

  it('expires_at in the past is 400; not a date-time is 400; unknown field 400', async () => {
    const past = await create({
      name: 'old',
      expires_at: new Date(Date.now() - 1000).toISOString(),
    })
    const body = expectProblem(past, 400)
    expect(body.errors?.[0]?.path).toBe('body/expires_at')
    expectProblem(await create({ name: 'bad', expires_at: 'tomorrow' }), 400)
    expectProblem(await create({ name: 'x', user_id: 'someone' }), 400)
    expectProblem(await create({}), 400)
  })

  it('an expired key is refused', async () => {
    const expiresAt = new Date(Date.now() + 1200).toISOString()
    const created = json<NewKey>(await create({ name: 'short-lived', expires_at: expiresAt }))
    expect(created.expires_at).toBe(expiresAt)
    expect(
      (await app.inject({ url: '/api/v1/private', headers: bearer(created.key) })).statusCode,
    ).toBe(200)
    await sleep(Date.parse(expiresAt) - Date.now() + 100)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: bearer(created.key) }))
  })

  it('an API key created by an admin carries admin only while the user is one', async () => {
    const { loginAdmin } = await import('../../test/helpers.js')
    const admin = await loginAdmin(app)
    const promoted = await newUser(app)
    await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${promoted.id}`,
      headers: admin.headers,
      payload: { role: 'admin' },
    })
    const { key } = json<NewKey>(await create({ name: 'admin-key' }, promoted.headers))
    expect((await app.inject({ url: '/api/v1/users', headers: bearer(key) })).statusCode).toBe(200)
    await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${promoted.id}`,
      headers: admin.headers,
      payload: { role: 'user' },
    })
    expectProblem(
      await app.inject({ url: '/api/v1/users', headers: bearer(key) }),
      403,
      'Admins only',
    )
  })

  describe('what ends a key (API.md §9)', async () => {
    const admin = await loginAdmin(app)
    const setDisabled = (id: string, disabled: boolean) =>
      app.inject({
        method: 'PATCH',
        url: `/api/v1/users/${id}`,
        headers: admin.headers,
        payload: { disabled },
      })
    const keysOf = async (owner: Session) => {
      const response = await app.inject({ url: '/api/v1/profile/api-keys', headers: owner.headers })
      expect(response.statusCode, response.body).toBe(200)
      return json<{ items: { id: string }[] }>(response).items
    }
    const works = async (key: string) =>
      (await app.inject({ url: '/api/v1/private', headers: bearer(key) })).statusCode

    it('disabling a user revokes their API keys for good: re-enabling revives none', async () => {
      const owner = await newUser(app)
      const first = json<NewKey>(await create({ name: 'one' }, owner.headers))
      const second = json<NewKey>(await create({ name: 'two' }, owner.headers))
      // Used once, so the key sits in the lookup cache when the user is disabled.
      expect(await works(first.key)).toBe(200)
      expect((await setDisabled(owner.id, true)).statusCode).toBe(200)
      expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: bearer(first.key) }))
      expect((await setDisabled(owner.id, false)).statusCode).toBe(200)
      expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: bearer(first.key) }))
      expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: bearer(second.key) }))
      // Revoked means gone, as after DELETE: the list holds none of them.
      const again = await login(app, owner.username, PASSWORD)
      expect(await keysOf(again)).toEqual([])
      const audit = await app.inject({
        url: '/api/v1/audit?kind=api_key.revoke&limit=100',
        headers: admin.headers,
      })
      const events = json<{ items: { actor_id: string; detail: Record<string, string> }[] }>(
        audit,
      ).items
      expect(events).toContainEqual(
        expect.objectContaining({
          actor_id: admin.id,
          detail: expect.objectContaining({ user_id: owner.id, count: '2' }),
        }),
      )
    })

    it('a user disabled before keys were revoked on disabling gets none back when enabled', async ({
      skip,
    }) => {
      skip(onPostgres, 'SQLite only: it edits the SQLite file')
      const owner = await newUser(app)
      const { key } = json<NewKey>(await create({ name: 'legacy' }, owner.headers))
      // What a disable left behind before the fix: a disabled user who still has the key.
      const raw = openDatabase<unknown>({
        kind: 'sqlite',
        path: path.join(dataDir, 'test.db'),
        synchronous: 'NORMAL',
      })
      try {
        await sql`update users set disabled = 1 where id = ${owner.id}`.execute(raw.kysely)
        await endKeysOfDisabledUsers(raw.kysely)
      } finally {
        await raw.close()
      }
      expect((await setDisabled(owner.id, false)).statusCode).toBe(200)
      expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: bearer(key) }))
    })

    it('deleting a user ends their API keys, also one in the lookup cache', async () => {
      const owner = await newUser(app)
      const created = json<NewKey>(await create({ name: 'doomed' }, owner.headers))
      expect(await works(created.key)).toBe(200)
      const deleted = await app.inject({
        method: 'DELETE',
        url: `/api/v1/users/${owner.id}`,
        headers: admin.headers,
      })
      expect(deleted.statusCode).toBe(204)
      expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: bearer(created.key) }))
    })

    it('a password change keeps the API keys, still listed', async () => {
      const owner = await newUser(app)
      const created = json<NewKey>(await create({ name: 'kept' }, owner.headers))
      const changed = await app.inject({
        method: 'POST',
        url: '/api/v1/profile/password',
        headers: owner.headers,
        payload: { current_password: PASSWORD, new_password: 'a new password for the key test' },
      })
      expect(changed.statusCode, changed.body).toBe(204)
      expect(await works(created.key)).toBe(200)
      expect((await keysOf(owner)).map((item) => item.id)).toEqual([created.id])
    })
  })
})
