import { describe, expect, it } from 'vitest'
import {
  expectBasicChallenge,
  expectBothChallenges,
  expectInvalidToken,
  expectProblem,
  loginRaw,
  refreshRaw,
} from '../../test/auth.js'
import { basic, buildTestApp, json, login, newUser, PASSWORD } from '../../test/helpers.js'

describe('GET/PATCH /api/v1/profile', async () => {
  const { app } = await buildTestApp()
  const user = await newUser(app)

  it('GET: the caller as a user, with an ETag and no-store; 401 anonymous', async () => {
    const response = await app.inject({ url: '/api/v1/profile', headers: user.headers })
    expect(response.statusCode).toBe(200)
    const body = json(response)
    expect(Object.keys(body).sort()).toEqual(
      [
        'created_at',
        'disabled',
        'email',
        'email_verified',
        'id',
        'mfa_enabled',
        'name',
        'role',
        'username',
      ].sort(),
    )
    expect(body).toMatchObject({
      id: user.id,
      username: user.username,
      role: 'user',
      disabled: false,
    })
    expect(response.headers.etag).toMatch(/^"[^"]+"$/)
    expect(response.headers['cache-control']).toBe('no-store')
    expectBothChallenges(await app.inject({ url: '/api/v1/profile' }))
  })

  it('GET with If-None-Match of the current ETag: 304, no body', async () => {
    const first = await app.inject({ url: '/api/v1/profile', headers: user.headers })
    const etag = String(first.headers.etag)
    const again = await app.inject({
      url: '/api/v1/profile',
      headers: { ...user.headers, 'if-none-match': etag },
    })
    expect(again.statusCode).toBe(304)
    expect(again.body).toBe('')
    const stale = await app.inject({
      url: '/api/v1/profile',
      headers: { ...user.headers, 'if-none-match': '"something-else"' },
    })
    expect(stale.statusCode).toBe(200)
  })

  it('PATCH {name}: 200 with the new user and a new ETag', async () => {
    const before = await app.inject({ url: '/api/v1/profile', headers: user.headers })
    const response = await app.inject({
      method: 'PATCH',
      url: '/api/v1/profile',
      headers: user.headers,
      payload: { name: 'Renamed' },
    })
    expect(response.statusCode, response.body).toBe(200)
    expect(json(response)).toMatchObject({ id: user.id, name: 'Renamed' })
    expect(response.headers.etag).toBeDefined()
    expect(response.headers.etag).not.toBe(before.headers.etag)
    const after = await app.inject({ url: '/api/v1/profile', headers: user.headers })
    expect(json(after).name).toBe('Renamed')
    expect(after.headers.etag).toBe(response.headers.etag)
  })

  it('PATCH with If-Match: 412 when stale, 200 when current', async () => {
    const current = await app.inject({ url: '/api/v1/profile', headers: user.headers })
    const etag = String(current.headers.etag)
    const ok = await app.inject({
      method: 'PATCH',
      url: '/api/v1/profile',
      headers: { ...user.headers, 'if-match': etag },
      payload: { name: 'First' },
    })
    expect(ok.statusCode, ok.body).toBe(200)
    const stale = await app.inject({
      method: 'PATCH',
      url: '/api/v1/profile',
      headers: { ...user.headers, 'if-match': etag },
      payload: { name: 'Second' },
    })
    expectProblem(stale, 412)
    expect(json(await app.inject({ url: '/api/v1/profile', headers: user.headers })).name).toBe(
      'First',
    )
  })

  it('PATCH: 400 for role, disabled or username (no mass assignment), an empty or long name', async () => {
    for (const payload of [
      { role: 'admin' },
      { name: 'X', role: 'admin' },
      { name: 'X', disabled: false },
      { username: 'other' },
      { name: '' },
      { name: 'n'.repeat(101) },
      { name: 42 },
    ]) {
      expectProblem(
        await app.inject({
          method: 'PATCH',
          url: '/api/v1/profile',
          headers: user.headers,
          payload,
        }),
        400,
      )
    }
    const me = json(await app.inject({ url: '/api/v1/profile', headers: user.headers }))
    expect(me.role).toBe('user')
  })
})

describe('POST /api/v1/profile/password', async () => {
  const { app } = await buildTestApp()
  const user = await newUser(app)
  const NEW = 'a brand new password for this test'

  const change = (headers: Record<string, string>, body: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/api/v1/profile/password', headers, payload: body })

  it('401 for a wrong current password; nothing changes', async () => {
    const response = await change(user.headers, {
      current_password: 'not my password',
      new_password: NEW,
    })
    expectProblem(response, 401)
    expect((await loginRaw(app, user.username, PASSWORD)).statusCode).toBe(200)
  })

  it('400 for a weak new password (too short, common, too long); nothing changes', async () => {
    for (const weak of ['short', 'password1234', 'x'.repeat(1025)]) {
      const body = expectProblem(
        await change(user.headers, { current_password: PASSWORD, new_password: weak }),
        400,
      )
      expect(body.errors?.[0]?.path).toBe('body/new_password')
    }
    expect((await loginRaw(app, user.username, PASSWORD)).statusCode).toBe(200)
  })

  it('400 for an unknown field or a missing one', async () => {
    expectProblem(
      await change(user.headers, { current_password: PASSWORD, new_password: NEW, user_id: 'x' }),
      400,
    )
    expectProblem(await change(user.headers, { new_password: NEW }), 400)
  })

  it('204: other sessions end at once, the calling one goes on, Basic cache is dropped', async () => {
    const caller = await login(app, user.username, PASSWORD)
    const other = await login(app, user.username, PASSWORD)
    // Basic with the old password works, and is now remembered by the server.
    expect(
      (await app.inject({ url: '/api/v1/private', headers: basic(user.username, PASSWORD) }))
        .statusCode,
    ).toBe(200)
    const response = await change(caller.headers, { current_password: PASSWORD, new_password: NEW })
    expect(response.statusCode, response.body).toBe(204)

    // Other sessions: access token and refresh token refused on the very next request.
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: other.headers }))
    expectProblem(await refreshRaw(app, other.refreshToken), 401)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: user.headers }))

    // The calling session goes on: its access token and its refresh token.
    expect((await app.inject({ url: '/api/v1/private', headers: caller.headers })).statusCode).toBe(
      200,
    )
    expect((await refreshRaw(app, caller.refreshToken)).statusCode).toBe(200)

    // Basic: the old password is refused, the new one works.
    expectBasicChallenge(
      await app.inject({ url: '/api/v1/private', headers: basic(user.username, PASSWORD) }),
    )
    expect(
      (await app.inject({ url: '/api/v1/private', headers: basic(user.username, NEW) })).statusCode,
    ).toBe(200)
    // Login too.
    expectProblem(await loginRaw(app, user.username, PASSWORD), 401)
    expect((await loginRaw(app, user.username, NEW)).statusCode).toBe(200)
  })

  it('by Basic: every session ends; the new password, NFKC-normalised, logs in', async () => {
    const account = await newUser(app, 'pwb')
    const session = await login(app, account.username, PASSWORD)
    const composed = 'na\u00efve caf\u00e9 password'
    const response = await change(basic(account.username, PASSWORD), {
      current_password: PASSWORD,
      new_password: composed,
    })
    expect(response.statusCode, response.body).toBe(204)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: session.headers }))
    expectProblem(await refreshRaw(app, session.refreshToken), 401)
    expect((await loginRaw(app, account.username, composed.normalize('NFD'))).statusCode).toBe(200)
  })
})
