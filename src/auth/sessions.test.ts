import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  buildAppAt,
  expectInvalidToken,
  expectProblem,
  listen,
  refreshRaw,
  type TokenPair,
} from '../../test/auth.js'
import {
  bearer,
  buildTestApp,
  json,
  login,
  newUser,
  PASSWORD,
  walkPages,
} from '../../test/helpers.js'
import { decodeJwt } from '../../test/jwt.js'

interface SessionItem {
  id: string
  created_at: string
  last_used_at: string
  user_agent: string | null
  current: boolean
}

describe('GET/DELETE /api/v1/profile/sessions', async () => {
  const { app } = await buildTestApp()

  const listSessions = async (headers: Record<string, string>) => {
    const response = await app.inject({ url: '/api/v1/profile/sessions', headers })
    expect(response.statusCode, response.body).toBe(200)
    return json<{ items: SessionItem[] }>(response).items
  }
  const sidOf = (token: string) => String(decodeJwt(token).payload.sid)

  it('lists the live sessions with exactly one current, the caller’s', async () => {
    const user = await newUser(app)
    const second = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'user-agent': 'second-device/1.0' },
      payload: { username: user.username, password: PASSWORD },
    })
    const secondTokens = json<TokenPair>(second)
    const items = await listSessions(user.headers)
    expect(items).toHaveLength(2)
    for (const item of items) {
      expect(Object.keys(item).sort()).toEqual(
        ['created_at', 'current', 'id', 'last_used_at', 'user_agent'].sort(),
      )
    }
    expect(items.filter((s) => s.current).map((s) => s.id)).toEqual([sidOf(user.accessToken)])
    expect(items.find((s) => s.id === sidOf(secondTokens.access_token))?.user_agent).toBe(
      'second-device/1.0',
    )
    // Seen from the other session, the other one is current.
    const fromSecond = await listSessions(bearer(secondTokens.access_token))
    expect(fromSecond.filter((s) => s.current).map((s) => s.id)).toEqual([
      sidOf(secondTokens.access_token),
    ])
    // No refresh token or hash in the list.
    const raw = (await app.inject({ url: '/api/v1/profile/sessions', headers: user.headers })).body
    expect(raw).not.toContain(user.refreshToken)
    expect(raw).not.toContain(secondTokens.refresh_token)
  })

  it('pages newest first: next_cursor and Link until null, every session once, one current', async () => {
    const user = await newUser(app)
    const sids = [sidOf(user.accessToken)]
    for (let i = 0; i < 4; i += 1) {
      sids.push(sidOf((await login(app, user.username, PASSWORD)).accessToken))
    }
    const pages = await walkPages<SessionItem>(
      app,
      '/api/v1/profile/sessions?limit=2',
      user.headers,
    )
    expect(pages.map((page) => page.length)).toEqual([2, 2, 1])
    const items = pages.flat()
    expect(items.map((s) => s.id)).toEqual([...sids].reverse())
    // The caller's session is the oldest: current on the last page, and only there.
    expect(items.filter((s) => s.current).map((s) => s.id)).toEqual([sidOf(user.accessToken)])
    const whole = await app.inject({ url: '/api/v1/profile/sessions', headers: user.headers })
    expect(json(whole)).toMatchObject({ next_cursor: null })
    expect(whole.headers.link).toBeUndefined()
  })

  it('a session that ends between pages is not listed; the walk goes on', async () => {
    const user = await newUser(app)
    const oldest = await login(app, user.username, PASSWORD)
    const middle = await login(app, user.username, PASSWORD)
    const newest = await login(app, user.username, PASSWORD)
    const first = await app.inject({
      url: '/api/v1/profile/sessions?limit=2',
      headers: user.headers,
    })
    const page = json<{ items: SessionItem[]; next_cursor: string | null }>(first)
    expect(page.items.map((s) => s.id)).toEqual([newest, middle].map((s) => sidOf(s.accessToken)))
    await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: oldest.headers })
    const rest = await app.inject({
      url: `/api/v1/profile/sessions?limit=2&cursor=${encodeURIComponent(String(page.next_cursor))}`,
      headers: user.headers,
    })
    expect(json<{ items: SessionItem[] }>(rest).items.map((s) => s.id)).toEqual([
      sidOf(user.accessToken),
    ])
  })

  it('limit 0, 101 or not a number, and a cursor the server did not issue are 400', async () => {
    const user = await newUser(app)
    await login(app, user.username, PASSWORD)
    const list = (query: string) =>
      app.inject({ url: `/api/v1/profile/sessions?${query}`, headers: user.headers })
    for (const limit of ['0', '101', 'ten']) {
      const body = expectProblem(await list(`limit=${limit}`), 400)
      expect(body.errors?.[0]?.path).toBe('query/limit')
    }
    const cursor = String(json<{ next_cursor: string | null }>(await list('limit=1')).next_cursor)
    const [payload = '', signature = ''] = cursor.split('.')
    const altered = `${payload.slice(0, -1)}${payload.endsWith('A') ? 'B' : 'A'}.${signature}`
    for (const bad of [altered, 'forged.cursor', 'eyJ4Ijp9.AAAAAAAAAAAAAAAAAAAAAA']) {
      const body = expectProblem(await list(`limit=1&cursor=${encodeURIComponent(bad)}`), 400)
      expect(body.errors?.[0]?.path).toBe('query/cursor')
    }
    expect(json<{ items: unknown[] }>(await list(`limit=1&cursor=${cursor}`)).items).toHaveLength(1)
  })

  it('a refresh moves last_used_at, not created_at', async () => {
    const user = await newUser(app)
    const [before] = await listSessions(user.headers)
    await new Promise((resolve) => setTimeout(resolve, 5))
    const rotated = json<TokenPair>(await refreshRaw(app, user.refreshToken))
    const [after] = await listSessions(bearer(rotated.access_token))
    expect(after?.id).toBe(before?.id)
    expect(after?.created_at).toBe(before?.created_at)
    expect(String(after?.last_used_at) > String(before?.last_used_at)).toBe(true)
  })

  it('does not list ended sessions', async () => {
    const user = await newUser(app)
    const other = await login(app, user.username, PASSWORD)
    await app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: other.headers })
    const items = await listSessions(user.headers)
    expect(items.map((s) => s.id)).toEqual([sidOf(user.accessToken)])
  })

  it('DELETE /sessions/{id}: that session ends, its access tokens included; others go on', async () => {
    const user = await newUser(app)
    const victim = await login(app, user.username, PASSWORD)
    const rotated = json<TokenPair>(await refreshRaw(app, victim.refreshToken))
    const response = await app.inject({
      method: 'DELETE',
      url: `/api/v1/profile/sessions/${sidOf(victim.accessToken)}`,
      headers: user.headers,
    })
    expect(response.statusCode, response.body).toBe(204)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: victim.headers }))
    expectInvalidToken(
      await app.inject({ url: '/api/v1/private', headers: bearer(rotated.access_token) }),
    )
    expectProblem(await refreshRaw(app, rotated.refresh_token), 401)
    expect((await app.inject({ url: '/api/v1/private', headers: user.headers })).statusCode).toBe(
      200,
    )
    expect((await listSessions(user.headers)).map((s) => s.id)).toEqual([sidOf(user.accessToken)])
  })

  it('DELETE /sessions/{id}: 404 for an unknown session and for another user’s session', async () => {
    const user = await newUser(app)
    const stranger = await newUser(app)
    expectProblem(
      await app.inject({
        method: 'DELETE',
        url: '/api/v1/profile/sessions/no-such-session',
        headers: user.headers,
      }),
      404,
    )
    expectProblem(
      await app.inject({
        method: 'DELETE',
        url: `/api/v1/profile/sessions/${sidOf(stranger.accessToken)}`,
        headers: user.headers,
      }),
      404,
    )
    expect(
      (await app.inject({ url: '/api/v1/private', headers: stranger.headers })).statusCode,
    ).toBe(200)
  })

  it('DELETE /sessions: every session but the current one ends', async () => {
    const user = await newUser(app)
    const a = await login(app, user.username, PASSWORD)
    const b = await login(app, user.username, PASSWORD)
    const response = await app.inject({
      method: 'DELETE',
      url: '/api/v1/profile/sessions',
      headers: user.headers,
    })
    expect(response.statusCode, response.body).toBe(204)
    for (const ended of [a, b]) {
      expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: ended.headers }))
      expectProblem(await refreshRaw(app, ended.refreshToken), 401)
    }
    expect((await app.inject({ url: '/api/v1/private', headers: user.headers })).statusCode).toBe(
      200,
    )
    expect((await listSessions(user.headers)).map((s) => s.id)).toEqual([sidOf(user.accessToken)])
    expect((await refreshRaw(app, user.refreshToken)).statusCode).toBe(200)
  })
})

describe('concurrent refreshes over real HTTP', async () => {
  const { app } = await buildTestApp()
  const base = await listen(app)
  const user = await newUser(app)

  it('of 10 parallel refreshes with one token, at most one succeeds', async () => {
    const session = await login(app, user.username, PASSWORD)
    const responses = await Promise.all(
      Array.from({ length: 10 }, () =>
        fetch(`${base}/api/v1/auth/refresh`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token: session.refreshToken }),
        }),
      ),
    )
    const statuses = responses.map((r) => r.status)
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(1)
    expect(statuses.every((s) => s === 200 || s === 401)).toBe(true)
    // The token is spent either way.
    expectProblem(await refreshRaw(app, session.refreshToken), 401)
  })
})

describe('a restart keeps users, sessions and revocations', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-restart-'))
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

  it('a revoked token stays refused; the other session’s tokens still work', async () => {
    const first = await buildAppAt(dataDir)
    let user: Awaited<ReturnType<typeof newUser>>
    let kept: Awaited<ReturnType<typeof login>>
    let loggedOut: Awaited<ReturnType<typeof login>>
    let ended: Awaited<ReturnType<typeof login>>
    let apiKey: string
    try {
      user = await newUser(first)
      kept = await login(first, user.username, PASSWORD)
      loggedOut = await login(first, user.username, PASSWORD)
      ended = await login(first, user.username, PASSWORD)
      apiKey = json<{ key: string }>(
        await first.inject({
          method: 'POST',
          url: '/api/v1/profile/api-keys',
          headers: kept.headers,
          payload: { name: 'survives' },
        }),
      ).key
      expect(
        (
          await first.inject({
            method: 'POST',
            url: '/api/v1/auth/logout',
            headers: loggedOut.headers,
          })
        ).statusCode,
      ).toBe(204)
      const sid = String(decodeJwt(ended.accessToken).payload.sid)
      expect(
        (
          await first.inject({
            method: 'DELETE',
            url: `/api/v1/profile/sessions/${sid}`,
            headers: kept.headers,
          })
        ).statusCode,
      ).toBe(204)
    } finally {
      await first.close()
    }

    const second = await buildAppAt(dataDir)
    try {
      // Revocations survived: the logged-out token and the ended session's token.
      expectInvalidToken(
        await second.inject({ url: '/api/v1/private', headers: loggedOut.headers }),
      )
      expectInvalidToken(await second.inject({ url: '/api/v1/private', headers: ended.headers }))
      expectProblem(await refreshRaw(second, loggedOut.refreshToken), 401)
      expectProblem(await refreshRaw(second, ended.refreshToken), 401)
      // The user and the other session survived, signed with the same generated secret.
      expect(
        (await second.inject({ url: '/api/v1/private', headers: kept.headers })).statusCode,
      ).toBe(200)
      expect(
        (await second.inject({ url: '/api/v1/private', headers: user.headers })).statusCode,
      ).toBe(200)
      expect(
        (await second.inject({ url: '/api/v1/private', headers: bearer(apiKey) })).statusCode,
      ).toBe(200)
      const refreshed = await refreshRaw(second, kept.refreshToken)
      expect(refreshed.statusCode, refreshed.body).toBe(200)
      expect((await login(second, user.username, PASSWORD)).accessToken).toBeTruthy()
      // Reuse detection survived as well: the spent refresh token kills the family.
      expectProblem(await refreshRaw(second, kept.refreshToken), 401)
      expectInvalidToken(
        await second.inject({
          url: '/api/v1/private',
          headers: bearer(json<TokenPair>(refreshed).access_token),
        }),
      )
    } finally {
      await second.close()
    }
  })
})
