import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import {
  ADMIN,
  basic,
  buildTestApp,
  json,
  login,
  loginAdmin,
  newUser,
  PASSWORD,
} from '../../test/helpers.js'

interface User {
  id: string
  username: string
  name: string
  role: 'admin' | 'user'
  disabled: boolean
  created_at: string
}
interface UserPage {
  items: User[]
  next_cursor: string | null
}

async function register(app: FastifyInstance, username: string, name: string): Promise<User> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: { username, password: PASSWORD, name },
  })
  if (response.statusCode !== 201) throw new Error(`register: ${response.body}`)
  return json<User>(response)
}

function patch(
  app: FastifyInstance,
  id: string,
  headers: Record<string, string>,
  payload: Record<string, unknown>,
): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'PATCH', url: `/api/v1/users/${id}`, headers, payload })
}

describe('users admin: role matrix', async () => {
  const { app } = await buildTestApp()
  const admin = await loginAdmin(app)
  const user = await newUser(app)
  const target = await register(app, 'matrix_target', 'Target')
  const doomed = await register(app, 'matrix_doomed', 'Doomed')

  const callers = {
    anonymous: {} as Record<string, string>,
    user: user.headers,
    admin: admin.headers,
    'admin (Basic)': basic(ADMIN.username, ADMIN.password),
  }
  type Op = 'list' | 'get' | 'patch' | 'delete'
  const request = (op: Op, headers: Record<string, string>, id = target.id) => {
    switch (op) {
      case 'list':
        return app.inject({ url: '/api/v1/users', headers })
      case 'get':
        return app.inject({ url: `/api/v1/users/${id}`, headers })
      case 'patch':
        return patch(app, id, headers, { name: 'Renamed' })
      case 'delete':
        return app.inject({ method: 'DELETE', url: `/api/v1/users/${id}`, headers })
    }
  }

  const MATRIX: [caller: keyof typeof callers, op: Op, status: number][] = [
    ['anonymous', 'list', 401],
    ['anonymous', 'get', 401],
    ['anonymous', 'patch', 401],
    ['anonymous', 'delete', 401],
    ['user', 'list', 403],
    ['user', 'get', 403],
    ['user', 'patch', 403],
    ['user', 'delete', 403],
    ['admin', 'list', 200],
    ['admin', 'get', 200],
    ['admin', 'patch', 200],
    ['admin (Basic)', 'list', 200],
    ['admin (Basic)', 'get', 200],
    ['admin', 'delete', 204],
  ]

  it.each(MATRIX)('%s %s → %i', async (caller, op, status) => {
    // Only the admin's delete removes someone: the doomed user, so the others keep their target.
    const id = op === 'delete' && status === 204 ? doomed.id : target.id
    const response = await request(op, callers[caller], id)
    expect(response.statusCode, response.body).toBe(status)
    if (status === 401) {
      expect(response.headers['www-authenticate']).toEqual([
        'Bearer realm="gatehouse"',
        'Basic realm="gatehouse", charset="UTF-8"',
      ])
    }
    if (status === 403) {
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(json(response).title).toBe('Admins only')
    }
    if (status === 200) expect(response.headers['cache-control']).toBe('no-store')
  })

  it('refused callers changed nothing', async () => {
    const after = json<User>(
      await app.inject({ url: `/api/v1/users/${target.id}`, headers: admin.headers }),
    )
    // Only the admin's PATCH renamed it.
    expect(after.name).toBe('Renamed')
    const gone = await app.inject({ url: `/api/v1/users/${doomed.id}`, headers: admin.headers })
    expect(gone.statusCode).toBe(404)
  })
})

describe('users admin: list, search and pages', async () => {
  const { app } = await buildTestApp()
  const admin = await loginAdmin(app)
  const made: User[] = []
  for (let i = 0; i < 11; i++) made.push(await register(app, `page_user_${i}`, `Page person ${i}`))
  const underscore = await register(app, 'alpha_one', 'Zed Quux')
  const lookalike = await register(app, 'alphaxone', 'Someone 100%')

  it('walks every user exactly once by following Link rel="next"', async () => {
    const seen: string[] = []
    let url: string | null = '/api/v1/users?limit=4'
    let pages = 0
    while (url !== null) {
      const response: LightMyRequestResponse = await app.inject({ url, headers: admin.headers })
      expect(response.statusCode).toBe(200)
      const page = json<UserPage>(response)
      expect(page.items.length).toBeLessThanOrEqual(4)
      seen.push(...page.items.map((item) => item.id))
      pages += 1
      const link = response.headers.link
      if (page.next_cursor === null) {
        expect(link).toBeUndefined()
        url = null
      } else {
        const match = /^<([^>]+)>; rel="next"$/.exec(String(link))
        expect(match).not.toBeNull()
        url = match?.[1] ?? null
        expect(url).toContain(`cursor=${encodeURIComponent(page.next_cursor)}`)
        expect(url).toContain('limit=4')
      }
    }
    const all = [made.map((user) => user.id), underscore.id, lookalike.id].flat()
    expect(seen).toHaveLength(new Set(seen).size)
    expect(new Set(seen)).toEqual(new Set([...all, admin.id]))
    expect(pages).toBe(Math.ceil(seen.length / 4))
  })

  it('the default page is 20 and the last page has no next', async () => {
    const page = json<UserPage>(await app.inject({ url: '/api/v1/users', headers: admin.headers }))
    expect(page.items).toHaveLength(14)
    expect(page.next_cursor).toBeNull()
  })

  it('?q= matches username or name, case-insensitively, with wildcards taken literally', async () => {
    const names = async (q: string) =>
      json<UserPage>(
        await app.inject({
          url: `/api/v1/users?q=${encodeURIComponent(q)}`,
          headers: admin.headers,
        }),
      )
        .items.map((item) => item.username)
        .sort()
    expect(await names('alpha')).toEqual(['alpha_one', 'alphaxone'])
    expect(await names('a_o')).toEqual(['alpha_one'])
    expect(await names('QUUX')).toEqual(['alpha_one'])
    expect(await names('100%')).toEqual(['alphaxone'])
    expect(await names('%')).toEqual(['alphaxone'])
    expect(await names('person 1')).toEqual(['page_user_1', 'page_user_10'])
    expect(await names('nobody-here')).toEqual([])
    const filtered = await app.inject({
      url: '/api/v1/users?q=page_user&limit=5',
      headers: admin.headers,
    })
    const next = /^<([^>]+)>/.exec(String(filtered.headers.link))?.[1]
    expect(next).toContain('q=page_user')
    const second = json<UserPage>(await app.inject({ url: String(next), headers: admin.headers }))
    expect(second.items.every((item) => item.username.startsWith('page_user'))).toBe(true)
  })
})

describe('users admin: single users', async () => {
  const { app } = await buildTestApp()
  const admin = await loginAdmin(app)
  const member = await newUser(app, 'member')

  it('GET, PATCH and DELETE of an unknown id are 404', async () => {
    for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
      const response = await app.inject({
        method,
        url: '/api/v1/users/01900000-0000-7000-8000-000000000000',
        headers: admin.headers,
        ...(method === 'PATCH' ? { payload: { name: 'X' } } : {}),
      })
      expect(response.statusCode).toBe(404)
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
    }
  })

  it('PATCH changes name, role and disabled, and the change takes effect at once', async () => {
    const renamed = await patch(app, member.id, admin.headers, { name: 'New Name' })
    expect(renamed.statusCode).toBe(200)
    expect(json<User>(renamed)).toMatchObject({ name: 'New Name', role: 'user', disabled: false })

    const promoted = await patch(app, member.id, admin.headers, { role: 'admin' })
    expect(json<User>(promoted).role).toBe('admin')
    // The member's token, issued as a user, now opens admin routes.
    expect((await app.inject({ url: '/api/v1/users', headers: member.headers })).statusCode).toBe(
      200,
    )
    await patch(app, member.id, admin.headers, { role: 'user' })
    expect((await app.inject({ url: '/api/v1/users', headers: member.headers })).statusCode).toBe(
      403,
    )

    const disabled = await patch(app, member.id, admin.headers, { disabled: true })
    expect(json<User>(disabled).disabled).toBe(true)
    expect((await app.inject({ url: '/api/v1/profile', headers: member.headers })).statusCode).toBe(
      401,
    )
    expect(
      (
        await app.inject({
          url: '/api/v1/profile',
          headers: basic(member.username, PASSWORD),
        })
      ).statusCode,
    ).toBe(401)
    const refused = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: member.username, password: PASSWORD },
    })
    expect(refused.statusCode).toBe(401)

    await patch(app, member.id, admin.headers, { disabled: false })
    const again = await login(app, member.username, PASSWORD)
    expect((await app.inject({ url: '/api/v1/profile', headers: again.headers })).statusCode).toBe(
      200,
    )
    // Disabling ended the old session for good.
    expect((await app.inject({ url: '/api/v1/profile', headers: member.headers })).statusCode).toBe(
      401,
    )
    const stored = json<User>(
      await app.inject({ url: `/api/v1/users/${member.id}`, headers: admin.headers }),
    )
    expect(stored).toMatchObject({ name: 'New Name', role: 'user', disabled: false })
  })

  it('ETag and If-None-Match answer 304; If-Match refuses a stale write with 412', async () => {
    const url = `/api/v1/users/${member.id}`
    const first = await app.inject({ url, headers: admin.headers })
    const etag = String(first.headers.etag)
    expect(etag).toMatch(/^"[^"]+"$/)
    const cached = await app.inject({ url, headers: { ...admin.headers, 'if-none-match': etag } })
    expect(cached.statusCode).toBe(304)
    expect(cached.body).toBe('')

    const weak = await app.inject({
      url,
      headers: { ...admin.headers, 'if-none-match': `"other", W/${etag}` },
    })
    expect(weak.statusCode).toBe(304)
    // If-Match compares strongly: a weak validator never allows a write.
    const weakWrite = await patch(
      app,
      member.id,
      { ...admin.headers, 'if-match': `W/${etag}` },
      { name: 'Weakly matched' },
    )
    expect(weakWrite.statusCode).toBe(412)

    const stale = await patch(
      app,
      member.id,
      { ...admin.headers, 'if-match': '"not-the-current-version"' },
      { name: 'Lost update' },
    )
    expect(stale.statusCode).toBe(412)
    expect(json<User>(await app.inject({ url, headers: admin.headers })).name).not.toBe(
      'Lost update',
    )

    const fresh = await patch(
      app,
      member.id,
      { ...admin.headers, 'if-match': etag },
      { name: 'Careful update' },
    )
    expect(fresh.statusCode).toBe(200)
    const newEtag = String(fresh.headers.etag)
    expect(newEtag).not.toBe(etag)
    const reread = await app.inject({ url, headers: admin.headers })
    expect(reread.headers.etag).toBe(newEtag)
    const changed = await app.inject({ url, headers: { ...admin.headers, 'if-none-match': etag } })
    expect(changed.statusCode).toBe(200)

    // The old ETag is stale now: the delete is refused and the user stays.
    const staleDelete = await app.inject({
      method: 'DELETE',
      url,
      headers: { ...admin.headers, 'if-match': etag },
    })
    expect(staleDelete.statusCode).toBe(412)
    expect((await app.inject({ url, headers: admin.headers })).statusCode).toBe(200)
  })

  it('DELETE is 204 and every way the user had in stops working', async () => {
    const doomed = await newUser(app, 'doomed')
    const url = `/api/v1/users/${doomed.id}`
    const etag = String((await app.inject({ url, headers: admin.headers })).headers.etag)
    const response = await app.inject({
      method: 'DELETE',
      url,
      headers: { ...admin.headers, 'if-match': etag },
    })
    expect(response.statusCode).toBe(204)
    expect(response.body).toBe('')
    expect((await app.inject({ url, headers: admin.headers })).statusCode).toBe(404)
    expect((await app.inject({ url: '/api/v1/private', headers: doomed.headers })).statusCode).toBe(
      401,
    )
    expect(
      (await app.inject({ url: '/api/v1/private', headers: basic(doomed.username, PASSWORD) }))
        .statusCode,
    ).toBe(401)
    const refresh = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: doomed.refreshToken },
    })
    expect(refresh.statusCode).toBe(401)
    const again = await app.inject({ method: 'DELETE', url, headers: admin.headers })
    expect(again.statusCode).toBe(404)
  })
})

async function lastAdminSuite() {
  const { app } = await buildTestApp()
  const root = await loginAdmin(app)
  const other = await newUser(app, 'second')

  it('cannot be demoted, disabled or deleted', async () => {
    const demote = await patch(app, root.id, root.headers, { role: 'user' })
    expect(demote.statusCode).toBe(409)
    expect(demote.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect((await patch(app, root.id, root.headers, { disabled: true })).statusCode).toBe(409)
    const remove = await app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${root.id}`,
      headers: root.headers,
    })
    expect(remove.statusCode).toBe(409)
    const still = json<User>(
      await app.inject({ url: `/api/v1/users/${root.id}`, headers: root.headers }),
    )
    expect(still).toMatchObject({ role: 'admin', disabled: false })
    // Renaming the last admin is fine.
    expect((await patch(app, root.id, root.headers, { name: 'Root' })).statusCode).toBe(200)
  })

  it('can step down once another admin exists, and then that one is the last', async () => {
    expect((await patch(app, other.id, root.headers, { role: 'admin' })).statusCode).toBe(200)
    expect((await patch(app, root.id, root.headers, { role: 'user' })).statusCode).toBe(200)
    // root is a user now, at once.
    expect((await app.inject({ url: '/api/v1/users', headers: root.headers })).statusCode).toBe(403)
    expect((await patch(app, other.id, other.headers, { disabled: true })).statusCode).toBe(409)
    expect((await patch(app, other.id, other.headers, { role: 'user' })).statusCode).toBe(409)
  })

  it('two admins demoting or disabling each other at once cannot both succeed', async () => {
    const accounts = [
      { id: root.id, headers: basic(ADMIN.username, ADMIN.password) },
      { id: other.id, headers: basic(other.username, PASSWORD) },
    ] as const
    // Several rounds: a lost race shows up only when both transactions overlap.
    for (let round = 0; round < 20; round++) {
      const change = round % 2 === 0 ? { role: 'user' } : { disabled: true }
      const [a, b] = await Promise.all([
        patch(app, accounts[0].id, accounts[1].headers, change),
        patch(app, accounts[1].id, accounts[0].headers, change),
      ])
      // The loser is refused by the rule (409), or is already demoted (403) or disabled (401)
      // when its request is authenticated. Never both 200: that would leave no admin.
      const statuses = [a.statusCode, b.statusCode].sort()
      expect(statuses[0]).toBe(200)
      expect([401, 403, 409]).toContain(statuses[1])
      const survivor = a.statusCode === 200 ? accounts[1] : accounts[0]
      const loser = a.statusCode === 200 ? accounts[0] : accounts[1]
      const list = await app.inject({ url: '/api/v1/users', headers: survivor.headers })
      expect(list.statusCode).toBe(200)
      const active = json<UserPage>(list).items.filter(
        (item) => item.role === 'admin' && !item.disabled,
      )
      expect(active.map((item) => item.id)).toEqual([survivor.id])
      // Restore two active admins for the next round.
      const restored = await patch(app, loser.id, survivor.headers, {
        role: 'admin',
        disabled: false,
      })
      expect(restored.statusCode).toBe(200)
    }
  })
}

// On SQLite and on PostgreSQL (one per run: test/database.ts), where two transactions really
// run at the same time.
describe('users admin: the last admin', lastAdminSuite)
