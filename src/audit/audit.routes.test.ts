import { describe, expect, it } from 'vitest'
import {
  expectBothChallenges,
  expectProblem,
  loginRaw,
  refreshRaw,
  type TokenPair,
} from '../../test/auth.js'
import {
  bearer,
  buildTestApp,
  json,
  login,
  loginAdmin,
  newUser,
  PASSWORD,
} from '../../test/helpers.js'

interface AuditEvent {
  id: string
  at: string
  kind: string
  actor_id: string | null
  detail: Record<string, string>
}

describe('GET /api/v1/audit', async () => {
  const { app } = await buildTestApp()
  const admin = await loginAdmin(app)

  const events = async (query = '') => {
    const response = await app.inject({
      url: `/api/v1/audit?limit=100${query}`,
      headers: admin.headers,
    })
    expect(response.statusCode, response.body).toBe(200)
    return json<{ items: AuditEvent[]; next_cursor: string | null }>(response)
  }

  // One scripted story, in this order; each step leaves one security event.
  const user = await newUser(app, 'aud') // login.success
  const NEW_PASSWORD = 'the audited new password'
  const secrets: string[] = [PASSWORD, NEW_PASSWORD, user.accessToken, user.refreshToken]
  await loginRaw(app, user.username, 'a wrong password') // login.failure
  await loginRaw(app, 'no-such-user-here', 'another wrong one') // login.failure, no actor
  const second = await login(app, user.username, PASSWORD) // login.success
  secrets.push(second.accessToken, second.refreshToken)
  const rotated = json<TokenPair>(await refreshRaw(app, second.refreshToken))
  secrets.push(rotated.access_token, rotated.refresh_token)
  await refreshRaw(app, second.refreshToken) // refresh.reuse
  const keyResponse = await app.inject({
    method: 'POST',
    url: '/api/v1/profile/api-keys',
    headers: user.headers,
    payload: { name: 'audited' },
  }) // api_key.create
  const apiKey = json<{ key: string; id: string }>(keyResponse)
  secrets.push(apiKey.key)
  await app.inject({ url: '/api/v1/private', headers: bearer(apiKey.key) }) // api_key.use
  await app.inject({
    method: 'POST',
    url: '/api/v1/profile/password',
    headers: user.headers,
    payload: { current_password: PASSWORD, new_password: NEW_PASSWORD },
  }) // password.change
  await app.inject({
    method: 'PATCH',
    url: `/api/v1/users/${user.id}`,
    headers: admin.headers,
    payload: { role: 'admin' },
  }) // role.change
  await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: user.headers }) // logout

  const story: [string, string | null][] = [
    ['login.success', user.id],
    ['login.failure', user.id],
    ['login.failure', null],
    ['login.success', user.id],
    ['refresh.reuse', user.id],
    ['api_key.create', user.id],
    ['api_key.use', user.id],
    ['password.change', user.id],
    ['role.change', admin.id],
    ['logout', user.id],
  ]

  it('every event is {id, at, kind, actor_id, detail}', async () => {
    const { items } = await events()
    expect(items.length).toBeGreaterThanOrEqual(story.length)
    for (const event of items) {
      expect(Object.keys(event).sort()).toEqual(['actor_id', 'at', 'detail', 'id', 'kind'])
      expect(event.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
      expect(typeof event.detail).toBe('object')
    }
  })

  it('records the story’s events (login success/failure, reuse, key use, password, role, logout), newest first', async () => {
    const { items } = await events()
    const ours = items
      .filter(
        (e) =>
          e.actor_id === user.id ||
          (e.kind === 'role.change' && e.detail.user_id === user.id) ||
          (e.kind === 'login.failure' && e.detail.username === 'no-such-user-here'),
      )
      .map((e) => [e.kind, e.actor_id])
    expect(ours).toEqual([...story].reverse())
    const times = items.map((e) => e.at)
    expect([...times].sort().reverse()).toEqual(times)
  })

  it('login kinds are login.success and login.failure, with the username of a failure', async () => {
    const failures = (await events('&kind=login.failure')).items
    expect(failures.map((e) => e.detail.username)).toEqual(
      expect.arrayContaining([user.username, 'no-such-user-here']),
    )
    expect(failures.every((e) => e.kind === 'login.failure')).toBe(true)
    const successes = (await events(`&kind=login.success&actor_id=${user.id}`)).items
    expect(successes).toHaveLength(2)
  })

  it('role.change names the user and both roles', async () => {
    const change = (await events('&kind=role.change')).items.find(
      (e) => e.detail.user_id === user.id,
    )
    expect(change).toMatchObject({ actor_id: admin.id, detail: { from: 'user', to: 'admin' } })
  })

  it('no event contains a password, token, key or hash', async () => {
    const response = await app.inject({ url: '/api/v1/audit?limit=100', headers: admin.headers })
    for (const secret of secrets) expect(response.body).not.toContain(secret)
    expect(response.body).not.toContain('$argon2')
  })

  it('pages with a signed cursor; a forged cursor is 400', async () => {
    const first = await app.inject({ url: '/api/v1/audit?limit=3', headers: admin.headers })
    const page = json<{ items: AuditEvent[]; next_cursor: string | null }>(first)
    expect(page.items).toHaveLength(3)
    expect(page.next_cursor).not.toBeNull()
    expect(first.headers.link).toContain('rel="next"')
    const next = json<{ items: AuditEvent[] }>(
      await app.inject({
        url: `/api/v1/audit?limit=3&cursor=${encodeURIComponent(String(page.next_cursor))}`,
        headers: admin.headers,
      }),
    )
    const all = (await events()).items
    expect(next.items.map((e) => e.id)).toEqual(all.slice(3, 6).map((e) => e.id))
    expectProblem(
      await app.inject({ url: '/api/v1/audit?cursor=forged.cursor', headers: admin.headers }),
      400,
    )
  })

  it('is for admins only', async () => {
    const other = await newUser(app)
    expectProblem(
      await app.inject({ url: '/api/v1/audit', headers: other.headers }),
      403,
      'Admins only',
    )
    expectBothChallenges(await app.inject({ url: '/api/v1/audit' }))
  })
})
