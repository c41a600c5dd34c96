import { statSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  expectBasicChallenge,
  expectBothChallenges,
  expectInvalidToken,
  expectProblem,
  loginRaw,
  refreshRaw,
  register,
  type TokenPair,
} from '../../test/auth.js'
import {
  basic,
  bearer,
  buildTestApp,
  json,
  login,
  loginAdmin,
  newUser,
  PASSWORD,
} from '../../test/helpers.js'
import { decodeJwt } from '../../test/jwt.js'
import { isCommonPassword } from './passwords.js'

let unique = 0
const username = (prefix = 'u') => {
  unique += 1
  return `${prefix}${process.pid}r${unique}`
}

describe('POST /api/v1/auth/register', async () => {
  const { app } = await buildTestApp()

  it('creates a user: 201, the user, Location of /api/v1/users/{id}, no hash', async () => {
    const name = username()
    const response = await register(app, { username: name, password: PASSWORD, name: 'Ann' })
    expect(response.statusCode).toBe(201)
    const user = json(response)
    expect(Object.keys(user).sort()).toEqual(
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
    expect(user).toMatchObject({ username: name, name: 'Ann', role: 'user', disabled: false })
    expect(response.headers.location).toBe(`/api/v1/users/${user.id}`)
    expect(response.body).not.toContain('$argon2')
    const admin = await loginAdmin(app)
    const fetched = await app.inject({
      url: String(response.headers.location),
      headers: admin.headers,
    })
    expect(fetched.statusCode).toBe(200)
    expect(json(fetched).username).toBe(name)
    // The same resource, so the same version: the ETag of the 201 is the one a GET gives.
    expect(response.headers.etag).toMatch(/^"[\w-]+"$/)
    expect(response.headers.etag).toBe(fetched.headers.etag)
  })

  it('409 when the username is taken', async () => {
    const name = username()
    expect(
      (await register(app, { username: name, password: PASSWORD, name: 'A' })).statusCode,
    ).toBe(201)
    const again = await register(app, { username: name, password: `${PASSWORD}2`, name: 'B' })
    expectProblem(again, 409)
  })

  it.each([
    ['too short', 'ab'],
    ['too long', 'a'.repeat(33)],
    ['upper case', 'Alice'],
    ['a space', 'al ice'],
    ['a character outside a-z0-9_.-', 'al!ce'],
    ['a trailing newline', 'alice\n'],
    ['non-ASCII', 'alicé'],
  ])('400 for a username with %s', async (_why, bad) => {
    const body = expectProblem(
      await register(app, { username: bad, password: PASSWORD, name: 'X' }),
      400,
    )
    expect(body.errors?.some((e) => e.path.includes('username'))).toBe(true)
  })

  it('accepts usernames at the pattern edges (3 and 32 of a-z0-9_.-)', async () => {
    const short = await register(app, { username: '_.-', password: PASSWORD, name: 'X' })
    expect(short.statusCode, short.body).toBe(201)
    const long = await register(app, {
      username: `${'a'.repeat(31)}9`,
      password: PASSWORD,
      name: 'X',
    })
    expect(long.statusCode, long.body).toBe(201)
  })

  it('400 for a password shorter than PASSWORD_MIN_LENGTH (12), 201 at exactly 12', async () => {
    const body = expectProblem(
      await register(app, { username: username(), password: 'x7#kq2!mzv9', name: 'X' }),
      400,
    )
    expect(body.errors?.[0]?.path).toBe('body/password')
    const ok = await register(app, { username: username(), password: 'x7#kq2!mzv9w', name: 'X' })
    expect(ok.statusCode, ok.body).toBe(201)
  })

  it('counts characters (code points), not bytes or UTF-16 units', async () => {
    const emoji = '🔑🚪🏠🔒🧱🌳🌲🪵🪨🐈🐕🦊'
    expect([...emoji]).toHaveLength(12)
    const ok = await register(app, { username: username(), password: emoji, name: 'X' })
    expect(ok.statusCode, ok.body).toBe(201)
    // Six emoji are twelve UTF-16 units but six characters: too short.
    expectProblem(
      await register(app, { username: username(), password: emoji.slice(0, 12), name: 'X' }),
      400,
    )
    // 1024 emoji are 2048 UTF-16 units but 1024 characters: allowed.
    const long = await register(app, {
      username: username(),
      password: emoji.repeat(86).slice(0, 2048),
      name: 'X',
    })
    expect(long.statusCode, long.body).toBe(201)
  })

  it('400 for a password over 1024 characters, 201 at exactly 1024', async () => {
    const tooLong = await register(app, {
      username: username(),
      password: `${'k'.repeat(1024)}x`,
      name: 'X',
    })
    expectProblem(tooLong, 400)
    const max = await register(app, {
      username: username(),
      password: `${'k'.repeat(1023)}x`,
      name: 'X',
    })
    expect(max.statusCode, max.body).toBe(201)
  })

  it('400 for a common password, also in other case or full-width (NFKC, case-folded)', async () => {
    expect(isCommonPassword('password1234')).toBe(true)
    for (const common of ['password1234', 'PassWord1234', 'ｐａｓｓｗｏｒｄ１２３４']) {
      const body = expectProblem(
        await register(app, { username: username(), password: common, name: 'X' }),
        400,
      )
      expect(body.errors?.[0]?.path).toBe('body/password')
    }
  })

  it('has no composition rules: a long lower-case passphrase is fine', async () => {
    const ok = await register(app, {
      username: username(),
      password: 'correct horse battery staple',
      name: 'X',
    })
    expect(ok.statusCode, ok.body).toBe(201)
  })

  it.each([
    ['empty', ''],
    ['101 characters', 'n'.repeat(101)],
  ])('400 for a name that is %s', async (_why, name) => {
    const body = expectProblem(
      await register(app, { username: username(), password: PASSWORD, name }),
      400,
    )
    expect(body.errors?.some((e) => e.path.includes('name'))).toBe(true)
  })

  it('accepts a name of 1 and of 100 characters', async () => {
    for (const name of ['n', 'n'.repeat(100)]) {
      const response = await register(app, { username: username(), password: PASSWORD, name })
      expect(response.statusCode, response.body).toBe(201)
    }
  })

  it('400 for an unknown field (role: admin is not mass-assigned)', async () => {
    const name = username()
    const response = await register(app, {
      username: name,
      password: PASSWORD,
      name: 'X',
      role: 'admin',
    })
    expectProblem(response, 400)
    // And nothing was created.
    expect(json(await loginRaw(app, name, PASSWORD)).access_token).toBeUndefined()
  })

  it.each([
    ['username a number', { username: 123456, password: PASSWORD, name: 'X' }],
    ['password a number', { username: 'numpass', password: 123456789012345, name: 'X' }],
    ['name a boolean', { username: 'boolname', password: PASSWORD, name: true }],
    ['name null', { username: 'nullname', password: PASSWORD, name: null }],
    ['password missing', { username: 'nopass', name: 'X' }],
  ])('400 for wrong JSON types or a missing field: %s', async (_why, body) => {
    expectProblem(await register(app, body), 400, 'Validation failed')
  })

  it('400 for malformed JSON, 415 for another content type', async () => {
    const malformed = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': 'application/json' },
      payload: '{"username": ',
    })
    expectProblem(malformed, 400)
    const text = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      headers: { 'content-type': 'text/plain' },
      payload: 'username=x',
    })
    expectProblem(text, 415)
  })

  it('NFKC: a password registered composed logs in typed decomposed, and vice versa', async () => {
    const composed = 'caf\u00e9 au lait, s\u2019il vous pla\u00eet'
    const decomposed = composed.normalize('NFD')
    expect(decomposed).not.toBe(composed)
    const a = username()
    expect((await register(app, { username: a, password: composed, name: 'X' })).statusCode).toBe(
      201,
    )
    expect((await loginRaw(app, a, decomposed)).statusCode).toBe(200)
    const b = username()
    expect((await register(app, { username: b, password: decomposed, name: 'X' })).statusCode).toBe(
      201,
    )
    expect((await loginRaw(app, b, composed)).statusCode).toBe(200)
    // Compatibility forms too: full-width letters are NFKC-equal to ASCII.
    const c = username()
    const fullWidth = 'ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ'
    expect((await register(app, { username: c, password: fullWidth, name: 'X' })).statusCode).toBe(
      201,
    )
    expect((await loginRaw(app, c, 'correct horse battery')).statusCode).toBe(200)
  })

  it('never truncates: a 100-character password differing only at character 80 does not log in', async () => {
    const base = 'abcdefghij'.repeat(10)
    const other = `${base.slice(0, 79)}Z${base.slice(80)}`
    expect(other).toHaveLength(100)
    expect(other).not.toBe(base)
    const name = username()
    expect((await register(app, { username: name, password: base, name: 'X' })).statusCode).toBe(
      201,
    )
    expect((await loginRaw(app, name, base)).statusCode).toBe(200)
    expectProblem(await loginRaw(app, name, other), 401)
    // A 1024-character password differing at its last character is refused too.
    const longName = username()
    const long = `${'q'.repeat(1023)}a`
    expect(
      (await register(app, { username: longName, password: long, name: 'X' })).statusCode,
    ).toBe(201)
    expectProblem(await loginRaw(app, longName, `${'q'.repeat(1023)}b`), 401)
    expect((await loginRaw(app, longName, long)).statusCode).toBe(200)
  })
})

describe('POST /api/v1/auth/login', async () => {
  const { app } = await buildTestApp()
  const user = await newUser(app)

  it('answers a token pair, no-store', async () => {
    const response = await loginRaw(app, user.username, PASSWORD)
    expect(response.statusCode).toBe(200)
    const pair = json<TokenPair>(response)
    expect(Object.keys(pair).sort()).toEqual(
      ['access_token', 'expires_in', 'refresh_token', 'token_type'].sort(),
    )
    expect(pair.token_type).toBe('Bearer')
    expect(pair.expires_in).toBe(900)
    expect(response.headers['cache-control']).toBe('no-store')
    // Refresh token: opaque, at least 128 random bits.
    expect(Buffer.from(pair.refresh_token, 'base64url').length).toBeGreaterThanOrEqual(16)
    expect(pair.refresh_token.split('.')).toHaveLength(1)
    const { header, payload } = decodeJwt(pair.access_token)
    expect(header).toMatchObject({ alg: 'HS256', typ: 'at+jwt' })
    expect(payload).toMatchObject({
      sub: user.id,
      role: 'user',
      iss: 'gatehouse',
      aud: 'gatehouse',
      sid: expect.any(String),
      jti: expect.any(String),
      iat: expect.any(Number),
      nbf: expect.any(Number),
      exp: expect.any(Number),
    })
    expect(Number(payload.exp) - Number(payload.iat)).toBe(900)
  })

  it('takes an HTML-form body too', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ username: user.username, password: PASSWORD }).toString(),
    })
    expect(response.statusCode, response.body).toBe(200)
    const token = json<TokenPair>(response).access_token
    expect((await app.inject({ url: '/api/v1/private', headers: bearer(token) })).statusCode).toBe(
      200,
    )
  })

  it('takes a form body with a 1024-character non-ASCII password (the longest allowed)', async () => {
    const name = username()
    const password = '鍵'.repeat(1024)
    expect((await register(app, { username: name, password, name: 'K' })).statusCode).toBe(201)
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ username: name, password }).toString(),
    })
    expect(response.statusCode, response.body).toBe(200)
  })

  it('a form body with a wrong password is 401, an extra field 400', async () => {
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ username: user.username, password: 'nope' }).toString(),
    })
    expectProblem(wrong, 401, 'Invalid username or password')
    const extra = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        username: user.username,
        password: PASSWORD,
        role: 'admin',
      }).toString(),
    })
    expectProblem(extra, 400)
  })

  it('401 with the identical body for an unknown user and a wrong password', async () => {
    const unknown = await loginRaw(app, 'nobody-here-at-all', PASSWORD)
    const wrong = await loginRaw(app, user.username, `${PASSWORD}!`)
    expectProblem(unknown, 401, 'Invalid username or password')
    expectProblem(wrong, 401, 'Invalid username or password')
    expect(wrong.body).toBe(unknown.body)
    expect(wrong.headers['www-authenticate']).toEqual(unknown.headers['www-authenticate'])
    expect(wrong.headers['content-type']).toEqual(unknown.headers['content-type'])
  })

  it('400 for a missing password or a non-string username', async () => {
    expectProblem(
      await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: user.username },
      }),
      400,
    )
    expectProblem(
      await app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { username: 42, password: PASSWORD },
      }),
      400,
    )
  })
})

describe('POST /api/v1/auth/refresh', async () => {
  const { app } = await buildTestApp()
  const user = await newUser(app)

  it('rotates: a new pair for the same session; the old refresh token is spent', async () => {
    const first = await login(app, user.username, PASSWORD)
    const response = await refreshRaw(app, first.refreshToken)
    expect(response.statusCode, response.body).toBe(200)
    expect(response.headers['cache-control']).toBe('no-store')
    const pair = json<TokenPair>(response)
    expect(pair.token_type).toBe('Bearer')
    expect(pair.refresh_token).not.toBe(first.refreshToken)
    expect(pair.access_token).not.toBe(first.accessToken)
    expect(decodeJwt(pair.access_token).payload.sid).toBe(decodeJwt(first.accessToken).payload.sid)
    expect(
      (await app.inject({ url: '/api/v1/private', headers: bearer(pair.access_token) })).statusCode,
    ).toBe(200)
    // The new refresh token works once more.
    const next = await refreshRaw(app, pair.refresh_token)
    expect(next.statusCode).toBe(200)
  })

  it('401 for an unknown refresh token, 400 for a missing one', async () => {
    const unknown = await refreshRaw(app, 'not-a-token-we-issued')
    expectProblem(unknown, 401)
    expectProblem(
      await app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: {} }),
      400,
    )
  })

  it('reuse of a spent token kills the family: the newer refresh token and the access tokens stop', async () => {
    const session = await login(app, user.username, PASSWORD)
    const rotated = json<TokenPair>(await refreshRaw(app, session.refreshToken))
    expect(
      (await app.inject({ url: '/api/v1/private', headers: bearer(rotated.access_token) }))
        .statusCode,
    ).toBe(200)
    // The spent token comes back: someone else has it.
    expectProblem(await refreshRaw(app, session.refreshToken), 401)
    expectProblem(await refreshRaw(app, rotated.refresh_token), 401)
    expectInvalidToken(
      await app.inject({ url: '/api/v1/private', headers: bearer(rotated.access_token) }),
    )
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: session.headers }))
    // Another session of the same user is untouched.
    const other = await login(app, user.username, PASSWORD)
    expect((await app.inject({ url: '/api/v1/private', headers: other.headers })).statusCode).toBe(
      200,
    )
    expect((await refreshRaw(app, other.refreshToken)).statusCode).toBe(200)
  })

  it('a disabled user cannot refresh', async () => {
    const victim = await newUser(app, 'dis')
    const admin = await loginAdmin(app)
    const patch = await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${victim.id}`,
      headers: admin.headers,
      payload: { disabled: true },
    })
    expect(patch.statusCode).toBe(200)
    expectProblem(await refreshRaw(app, victim.refreshToken), 401)
  })
})

describe('refresh-family absolute lifetime (REFRESH_TOKEN_TTL=2)', async () => {
  const { app } = await buildTestApp({ REFRESH_TOKEN_TTL: '2' })
  const user = await newUser(app)

  it('ends REFRESH_TOKEN_TTL after login; rotation does not extend it', async () => {
    const session = await login(app, user.username, PASSWORD)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const rotated = await refreshRaw(app, session.refreshToken)
    expect(rotated.statusCode, rotated.body).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    // 2.2 s after login: the family has ended although its newest token was issued 1.1 s ago.
    expectProblem(await refreshRaw(app, json<TokenPair>(rotated).refresh_token), 401)
  })
})

describe('POST /api/v1/auth/logout', async () => {
  const { app } = await buildTestApp()
  const user = await newUser(app)

  it('204 without a body: the access token and its refresh family stop working', async () => {
    const session = await login(app, user.username, PASSWORD)
    const other = await login(app, user.username, PASSWORD)
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: session.headers,
    })
    expect(response.statusCode, response.body).toBe(204)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: session.headers }))
    expectProblem(await refreshRaw(app, session.refreshToken), 401)
    // The other session goes on.
    expect((await app.inject({ url: '/api/v1/private', headers: other.headers })).statusCode).toBe(
      200,
    )
    expect((await refreshRaw(app, other.refreshToken)).statusCode).toBe(200)
  })

  it('204 with {refresh_token}: a refreshed access token of the same family stops too', async () => {
    const session = await login(app, user.username, PASSWORD)
    const rotated = json<TokenPair>(await refreshRaw(app, session.refreshToken))
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: bearer(rotated.access_token),
      payload: { refresh_token: rotated.refresh_token },
    })
    expect(response.statusCode, response.body).toBe(204)
    expectInvalidToken(
      await app.inject({ url: '/api/v1/private', headers: bearer(rotated.access_token) }),
    )
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: session.headers }))
    expectProblem(await refreshRaw(app, rotated.refresh_token), 401)
  })

  it('204 with an empty JSON object', async () => {
    const session = await login(app, user.username, PASSWORD)
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: session.headers,
      payload: {},
    })
    expect(response.statusCode, response.body).toBe(204)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: session.headers }))
  })

  it('401 without credentials', async () => {
    expectBothChallenges(await app.inject({ method: 'POST', url: '/api/v1/auth/logout' }))
  })

  const logout = (headers: Record<string, string>, payload?: Record<string, unknown>) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers,
      ...(payload === undefined ? {} : { payload }),
    })
  const works = async (headers: Record<string, string>) =>
    (await app.inject({ url: '/api/v1/private', headers })).statusCode === 200

  it('400 with an API key, and nothing ends: an API key ends only by DELETE', async () => {
    const session = await login(app, user.username, PASSWORD)
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/api-keys',
      headers: session.headers,
      payload: { name: 'no logout' },
    })
    const { key } = json<{ key: string }>(created)
    for (const payload of [undefined, { refresh_token: session.refreshToken }]) {
      const problem = expectProblem(await logout(bearer(key), payload), 400)
      expect(problem.detail).toMatch(/API key/)
      expect(problem.detail).toMatch(/DELETE/)
      expect(await works(bearer(key))).toBe(true)
      expect(await works(session.headers)).toBe(true)
    }
    expect((await refreshRaw(app, session.refreshToken)).statusCode).toBe(200)
  })

  it('Basic has no session: 204, ending only the live session of the caller that refresh_token names', async () => {
    const credentials = basic(user.username, PASSWORD)
    const session = await login(app, user.username, PASSWORD)
    const stranger = await newUser(app)
    for (const payload of [undefined, {}, { refresh_token: stranger.refreshToken }]) {
      expect((await logout(credentials, payload)).statusCode).toBe(204)
      expect(await works(session.headers)).toBe(true)
      expect(await works(stranger.headers)).toBe(true)
    }
    expect((await logout(credentials, { refresh_token: session.refreshToken })).statusCode).toBe(
      204,
    )
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: session.headers }))
    expectProblem(await refreshRaw(app, session.refreshToken), 401)
    expect(await works(credentials)).toBe(true)
  })
})

describe('credential schemes and challenges (§3)', async () => {
  const { app } = await buildTestApp()
  const user = await newUser(app)

  it('no credentials: 401 with both the Bearer and the Basic challenge', async () => {
    const response = await app.inject({ url: '/api/v1/private' })
    expectBothChallenges(response)
    expectBothChallenges(await app.inject({ url: '/api/v1/profile' }))
  })

  it('wrong Basic credentials: 401 with the Basic challenge', async () => {
    expectBasicChallenge(
      await app.inject({
        url: '/api/v1/private',
        headers: basic(user.username, 'wrong password!'),
      }),
    )
    expectBasicChallenge(
      await app.inject({ url: '/api/v1/private', headers: basic('nobody-at-all', PASSWORD) }),
    )
  })

  it('right Basic credentials work, password with a colon included', async () => {
    const response = await app.inject({
      url: '/api/v1/private',
      headers: basic(user.username, PASSWORD),
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers['cache-control']).toBe('no-store')
    const name = `colon${process.pid}`
    const password = 'pass:word:with:colons'
    expect((await register(app, { username: name, password, name: 'C' })).statusCode).toBe(201)
    expect(
      (await app.inject({ url: '/api/v1/private', headers: basic(name, password) })).statusCode,
    ).toBe(200)
  })

  it('a garbage Bearer token: 401 invalid_token', async () => {
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: bearer('not.a.jwt') }))
  })

  it('the `JWT <token>` scheme works as Bearer', async () => {
    const response = await app.inject({
      url: '/api/v1/private',
      headers: { authorization: `JWT ${user.accessToken}` },
    })
    expect(response.statusCode).toBe(200)
  })

  it('?access_token= is ignored without ALLOW_QUERY_TOKEN', async () => {
    const response = await app.inject({
      url: `/api/v1/private?access_token=${encodeURIComponent(user.accessToken)}`,
    })
    expectBothChallenges(response)
  })

  it('a normal user on an admin route: 403 Admins only', async () => {
    expectProblem(
      await app.inject({ url: '/api/v1/users', headers: user.headers }),
      403,
      'Admins only',
    )
    expectProblem(
      await app.inject({ url: '/api/v1/audit', headers: user.headers }),
      403,
      'Admins only',
    )
    expectProblem(
      await app.inject({ url: '/api/v1/users', headers: basic(user.username, PASSWORD) }),
      403,
      'Admins only',
    )
  })
})

describe('?access_token= with ALLOW_QUERY_TOKEN=true', async () => {
  const { app } = await buildTestApp({ ALLOW_QUERY_TOKEN: 'true' })
  const user = await newUser(app)

  it('authenticates with the query token; a bad one is 401 invalid_token', async () => {
    const ok = await app.inject({
      url: `/api/v1/private?access_token=${encodeURIComponent(user.accessToken)}`,
    })
    expect(ok.statusCode, ok.body).toBe(200)
    expectInvalidToken(await app.inject({ url: '/api/v1/private?access_token=garbage' }))
  })
})

describe('GET /.well-known/jwks.json', () => {
  it('is empty under HS256; the generated secret is kept owner-only', async () => {
    const { app, dataDir } = await buildTestApp()
    expect(statSync(path.join(dataDir, 'jwt-secret')).mode & 0o777).toBe(0o600)
    const response = await app.inject({ url: '/.well-known/jwks.json' })
    expect(response.statusCode).toBe(200)
    expect(json(response)).toEqual({ keys: [] })
  })

  it('publishes the Ed25519 public key under EdDSA, and EdDSA tokens verify against it', async () => {
    const { app, dataDir } = await buildTestApp({ JWT_ALGORITHM: 'EdDSA' })
    expect(statSync(path.join(dataDir, 'jwt-ed25519.pem')).mode & 0o777).toBe(0o600)
    const response = await app.inject({ url: '/.well-known/jwks.json' })
    expect(response.statusCode).toBe(200)
    const { keys } = json<{ keys: Record<string, string>[] }>(response)
    expect(keys).toHaveLength(1)
    const jwk = keys[0] ?? {}
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: expect.any(String) })
    expect(jwk.d).toBeUndefined()
    const user = await newUser(app)
    const { header } = decodeJwt(user.accessToken)
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt', kid: jwk.kid })
    const { createPublicKey, verify } = await import('node:crypto')
    const publicKey = createPublicKey({ key: jwk, format: 'jwk' })
    const [h, p, s] = user.accessToken.split('.')
    expect(
      verify(null, Buffer.from(`${h}.${p}`), publicKey, Buffer.from(String(s), 'base64url')),
    ).toBe(true)
    expect((await app.inject({ url: '/api/v1/private', headers: user.headers })).statusCode).toBe(
      200,
    )
    const refreshed = await refreshRaw(app, user.refreshToken)
    expect(refreshed.statusCode).toBe(200)
    expect(
      (
        await app.inject({
          url: '/api/v1/private',
          headers: bearer(json<TokenPair>(refreshed).access_token),
        })
      ).statusCode,
    ).toBe(200)
  })
})

describe('register rate limit (RATE_LIMIT=true)', async () => {
  const { app } = await buildTestApp({ RATE_LIMIT: 'true' })

  it('the 21st registration within an hour from one address is 429 with Retry-After', async () => {
    for (let i = 1; i <= 20; i++) {
      const response = await register(app, {
        username: username('rl'),
        password: PASSWORD,
        name: 'R',
      })
      expect(response.statusCode, `registration ${i}: ${response.body}`).toBe(201)
    }
    const limited = await register(app, { username: username('rl'), password: PASSWORD, name: 'R' })
    expectProblem(limited, 429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    // Login is counted separately.
    expect((await loginRaw(app, 'root', 'admin-password-for-tests')).statusCode).toBe(200)
  })

  it('an IPv6 client is its /64: new addresses in one /64 share the 20', async () => {
    const from = (address: string) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        remoteAddress: address,
        payload: { username: username('v6'), password: PASSWORD, name: 'V' },
      })
    for (let i = 1; i <= 20; i++) {
      const response = await from(`2001:db8:aa:1::${i.toString(16)}`)
      expect(response.statusCode, `registration ${i}: ${response.body}`).toBe(201)
    }
    expectProblem(await from('2001:db8:aa:1:ffff::1'), 429)
    expect((await from('2001:db8:aa:2::1')).statusCode).toBe(201)
  })
})
