import { randomInt } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { generate } from 'otplib'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { BASIC_CHALLENGE, expectProblem, type TokenPair } from '../../test/auth.js'
import {
  basic,
  bearer,
  buildTestApp,
  json,
  login,
  loginAdmin,
  newUser,
  PASSWORD,
  type Session,
} from '../../test/helpers.js'
import { freshStep, hotp, totpCode } from '../../test/totp.js'

const codeAt = totpCode

describe('RFC 6238 Appendix B test vectors (SHA-1, 8 digits)', () => {
  const key = Buffer.from('12345678901234567890')
  const vectors: [number, string][] = [
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ]
  it.each(vectors)('at T=%i the code is %s: the library the service uses', async (time, code) => {
    expect(
      await generate({
        secret: new Uint8Array(key),
        epoch: time,
        digits: 8,
        algorithm: 'sha1',
        // The RFC's key is 160 bits; the library's guardrails take it.
      }),
    ).toBe(code)
  })
  it.each(vectors)("at T=%i the code is %s: the test's own generator", (time, code) => {
    expect(hotp(key, Math.floor(time / 30), 8)).toBe(code)
  })
})

interface TwoFactorUser {
  session: Session
  secret: string
  recoveryCodes: string[]
}

const post = (
  app: FastifyInstance,
  url: string,
  payload: Record<string, unknown>,
  headers: Record<string, string> = {},
  remoteAddress?: string,
) =>
  app.inject({
    method: 'POST',
    url,
    payload,
    headers,
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
  })

async function startSetUp(app: FastifyInstance, session: Session): Promise<string> {
  const response = await post(
    app,
    '/api/v1/profile/mfa/totp',
    { password: PASSWORD },
    session.headers,
  )
  expect(response.statusCode, response.body).toBe(200)
  return json<{ secret: string }>(response).secret
}

/** A new user with two-factor on, confirmed with the code of the current step. */
async function twoFactorUser(app: FastifyInstance, offset = 0): Promise<TwoFactorUser> {
  const session = await newUser(app, 'mfa')
  await freshStep()
  const secret = await startSetUp(app, session)
  const response = await post(
    app,
    '/api/v1/profile/mfa/totp/confirm',
    { code: codeAt(secret, offset) },
    session.headers,
  )
  expect(response.statusCode, response.body).toBe(200)
  return {
    session,
    secret,
    recoveryCodes: json<{ recovery_codes: string[] }>(response).recovery_codes,
  }
}

/** The password step: the `mfa_token` of a user with two-factor on. */
async function mfaToken(
  app: FastifyInstance,
  username: string,
  remoteAddress?: string,
): Promise<string> {
  const response = await post(
    app,
    '/api/v1/auth/login',
    { username, password: PASSWORD },
    {},
    remoteAddress,
  )
  expect(response.statusCode, response.body).toBe(200)
  const body = json<{ mfa_required: boolean; mfa_token: string; expires_in: number }>(response)
  expect(body.mfa_required).toBe(true)
  return body.mfa_token
}

const codeLogin = (app: FastifyInstance, token: string, code: string, remoteAddress?: string) =>
  post(app, '/api/v1/auth/login/mfa', { mfa_token: token, code }, {}, remoteAddress)

function expectTokens(response: LightMyRequestResponse): TokenPair {
  expect(response.statusCode, response.body).toBe(200)
  const pair = json<TokenPair>(response)
  expect(pair.access_token).toEqual(expect.any(String))
  expect(pair.refresh_token).toEqual(expect.any(String))
  return pair
}

describe('two-factor login with TOTP (API.md §10)', async () => {
  const { app, dataDir } = await buildTestApp()
  afterEach(() => {
    vi.useRealTimers()
  })

  it('set-up needs the password, shows the secret and its otpauth URI, and stays pending until confirmed', async () => {
    const session = await newUser(app, 'mfa')
    const wrong = await post(
      app,
      '/api/v1/profile/mfa/totp',
      { password: `${PASSWORD}x` },
      session.headers,
    )
    expectProblem(wrong, 401)
    const response = await post(
      app,
      '/api/v1/profile/mfa/totp',
      { password: PASSWORD },
      session.headers,
    )
    expect(response.statusCode, response.body).toBe(200)
    const { secret, otpauth_uri } = json<{ secret: string; otpauth_uri: string }>(response)
    expect(secret).toMatch(/^[A-Z2-7]{32}$/)
    const uri = new URL(otpauth_uri)
    expect(uri.protocol).toBe('otpauth:')
    expect(uri.host).toBe('totp')
    expect(decodeURIComponent(uri.pathname)).toBe(`/Gatehouse:${session.username}`)
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      secret,
      issuer: 'Gatehouse',
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    })
    // Pending: the password alone still signs in, and the user says two-factor is off.
    expectTokens(
      await post(app, '/api/v1/auth/login', { username: session.username, password: PASSWORD }),
    )
    const profile = await app.inject({ url: '/api/v1/profile', headers: session.headers })
    expect(json(profile).mfa_enabled).toBe(false)
  })

  it('a wrong first code confirms nothing (400); the right one turns it on, with 10 recovery codes', async () => {
    const session = await newUser(app, 'mfa')
    const early = await post(
      app,
      '/api/v1/profile/mfa/totp/confirm',
      { code: '123456' },
      session.headers,
    )
    expectProblem(early, 400)
    await freshStep()
    const secret = await startSetUp(app, session)
    const wrong = await post(
      app,
      '/api/v1/profile/mfa/totp/confirm',
      { code: codeAt(secret, 5) },
      session.headers,
    )
    expectProblem(wrong, 400, 'Invalid code')
    const right = await post(
      app,
      '/api/v1/profile/mfa/totp/confirm',
      { code: codeAt(secret) },
      session.headers,
    )
    expect(right.statusCode, right.body).toBe(200)
    const codes = json<{ recovery_codes: string[] }>(right).recovery_codes
    expect(codes).toHaveLength(10)
    expect(new Set(codes).size).toBe(10)
    const profile = await app.inject({ url: '/api/v1/profile', headers: session.headers })
    expect(json(profile).mfa_enabled).toBe(true)
    const again = await post(
      app,
      '/api/v1/profile/mfa/totp',
      { password: PASSWORD },
      session.headers,
    )
    expectProblem(again, 409)
  })

  it('confirming ends every other session of the user; the calling one goes on', async () => {
    const session = await newUser(app, 'mfa')
    const other = await login(app, session.username, PASSWORD)
    await freshStep()
    const secret = await startSetUp(app, session)
    const confirmed = await post(
      app,
      '/api/v1/profile/mfa/totp/confirm',
      { code: codeAt(secret) },
      session.headers,
    )
    expect(confirmed.statusCode).toBe(200)
    expect((await app.inject({ url: '/api/v1/profile', headers: other.headers })).statusCode).toBe(
      401,
    )
    expect(
      (await app.inject({ url: '/api/v1/profile', headers: session.headers })).statusCode,
    ).toBe(200)
    const refreshed = await post(app, '/api/v1/auth/refresh', { refresh_token: other.refreshToken })
    expectProblem(refreshed, 401)
  })

  it('login answers mfa_required and no tokens; the code gives the pair; the same code twice is refused', async () => {
    const user = await twoFactorUser(app)
    const response = await post(app, '/api/v1/auth/login', {
      username: user.session.username,
      password: PASSWORD,
    })
    expect(response.statusCode).toBe(200)
    const body = json(response)
    expect(Object.keys(body).sort()).toEqual(['expires_in', 'mfa_required', 'mfa_token'])
    expect(body).toMatchObject({ mfa_required: true, expires_in: 300 })
    // The code of the next step (the current one was spent on confirming).
    const code = codeAt(user.secret, 1)
    const pair = expectTokens(await codeLogin(app, String(body.mfa_token), code))
    expect(
      (await app.inject({ url: '/api/v1/profile', headers: bearer(pair.access_token) })).statusCode,
    ).toBe(200)
    // The same code again, with a new mfa_token: refused, as is the earlier step's.
    const token = await mfaToken(app, user.session.username)
    expectProblem(await codeLogin(app, token, code), 401, 'Invalid code')
    expectProblem(await codeLogin(app, token, codeAt(user.secret)), 401)
    // A spent mfa_token does not take another code.
    expectProblem(await codeLogin(app, String(body.mfa_token), codeAt(user.secret, 1)), 401)
  })

  it('one code sent six times at once gets through once', async () => {
    const user = await twoFactorUser(app)
    const tokens: string[] = []
    for (let i = 0; i < 6; i += 1) tokens.push(await mfaToken(app, user.session.username))
    const code = codeAt(user.secret, 1)
    const answers = await Promise.all(tokens.map((token) => codeLogin(app, token, code)))
    const statuses = answers.map((answer) => answer.statusCode)
    expect(statuses.filter((status) => status === 200)).toHaveLength(1)
    expect(statuses.filter((status) => status === 401)).toHaveLength(5)
  })

  it('one step early or late is accepted, two are not', async () => {
    // Confirmed with the code of the step before (one late).
    const user = await twoFactorUser(app, -1)
    const token = await mfaToken(app, user.session.username)
    expectProblem(await codeLogin(app, token, codeAt(user.secret, 2)), 401)
    expectProblem(await codeLogin(app, token, codeAt(user.secret, -2)), 401)
    // One early.
    expectTokens(await codeLogin(app, token, codeAt(user.secret, 1)))
  })

  it('a recovery code works once, in any case and with or without its dashes', async () => {
    const user = await twoFactorUser(app)
    const [first, second] = user.recoveryCodes
    expect(first).toMatch(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/)
    expectTokens(await codeLogin(app, await mfaToken(app, user.session.username), String(first)))
    expectProblem(
      await codeLogin(app, await mfaToken(app, user.session.username), String(first)),
      401,
    )
    const typed = String(second).replaceAll('-', '').toUpperCase()
    expectTokens(await codeLogin(app, await mfaToken(app, user.session.username), typed))
  })

  it('an mfa_token ends after 5 wrong codes, and after 5 minutes', async () => {
    const user = await twoFactorUser(app)
    const token = await mfaToken(app, user.session.username)
    for (let i = 0; i < 5; i += 1) {
      expectProblem(await codeLogin(app, token, String(100000 + i)), 401)
    }
    expectProblem(await codeLogin(app, token, String(user.recoveryCodes[0])), 401)
    // The recovery code was not spent by the dead token's attempt.
    const expiring = await mfaToken(app, user.session.username)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 301_000)
    expectProblem(await codeLogin(app, expiring, String(user.recoveryCodes[0])), 401)
    vi.useRealTimers()
    expectTokens(
      await codeLogin(
        app,
        await mfaToken(app, user.session.username),
        String(user.recoveryCodes[0]),
      ),
    )
  })

  it('disabling needs the password and a code', async () => {
    const user = await twoFactorUser(app)
    const disable = (payload: Record<string, unknown>) =>
      app.inject({
        method: 'DELETE',
        url: '/api/v1/profile/mfa/totp',
        headers: user.session.headers,
        payload,
      })
    expectProblem(await disable({ password: PASSWORD }), 400)
    expectProblem(await disable({ password: `${PASSWORD}x`, code: codeAt(user.secret, 1) }), 401)
    expectProblem(await disable({ password: PASSWORD, code: '000000' }), 400, 'Invalid code')
    expect((await disable({ password: PASSWORD, code: codeAt(user.secret, 1) })).statusCode).toBe(
      204,
    )
    const profile = await app.inject({ url: '/api/v1/profile', headers: user.session.headers })
    expect(json(profile).mfa_enabled).toBe(false)
    // The password alone signs in again; the recovery codes are gone.
    expectTokens(
      await post(app, '/api/v1/auth/login', {
        username: user.session.username,
        password: PASSWORD,
      }),
    )
    expectProblem(await disable({ password: PASSWORD, code: String(user.recoveryCodes[0]) }), 400)
  })

  it('regenerating recovery codes kills the old set', async () => {
    const user = await twoFactorUser(app)
    const regenerate = (code: string) =>
      post(app, '/api/v1/profile/mfa/recovery-codes', { code }, user.session.headers)
    expectProblem(await regenerate('999999'), 400)
    const response = await regenerate(codeAt(user.secret, 1))
    expect(response.statusCode, response.body).toBe(200)
    const fresh = json<{ recovery_codes: string[] }>(response).recovery_codes
    expect(fresh).toHaveLength(10)
    expect(fresh.some((code) => user.recoveryCodes.includes(code))).toBe(false)
    expectProblem(
      await codeLogin(
        app,
        await mfaToken(app, user.session.username),
        String(user.recoveryCodes[1]),
      ),
      401,
    )
    expectTokens(await codeLogin(app, await mfaToken(app, user.session.username), String(fresh[0])))
  })

  it('Basic is refused for a two-factor user (401, Basic challenge, says what to use); an API key works', async () => {
    const session = await newUser(app, 'mfa')
    const created = await post(app, '/api/v1/profile/api-keys', { name: 'ci' }, session.headers)
    const key = json<{ key: string }>(created).key
    expect(
      (await app.inject({ url: '/api/v1/private', headers: basic(session.username, PASSWORD) }))
        .statusCode,
    ).toBe(200)
    await freshStep()
    const secret = await startSetUp(app, session)
    await post(app, '/api/v1/profile/mfa/totp/confirm', { code: codeAt(secret) }, session.headers)

    const refused = await app.inject({
      url: '/api/v1/private',
      headers: basic(session.username, PASSWORD),
    })
    const problem = expectProblem(refused, 401)
    expect(refused.headers['www-authenticate']).toBe(BASIC_CHALLENGE)
    expect(problem.detail).toMatch(/token/)
    expect(problem.detail).toMatch(/API key/)
    // A wrong password still gets the ordinary answer (nothing says two-factor is on).
    const wrong = await app.inject({
      url: '/api/v1/private',
      headers: basic(session.username, 'nope nope'),
    })
    expect(expectProblem(wrong, 401).title).toBe('Invalid username or password')
    expect((await app.inject({ url: '/api/v1/private', headers: bearer(key) })).statusCode).toBe(
      200,
    )
  })

  it('the web sign-in asks for the code on its own page, then sets the session cookies', async () => {
    const user = await twoFactorUser(app)
    const form = (url: string, body: Record<string, string>, cookie?: string) =>
      app.inject({
        method: 'POST',
        url,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(cookie === undefined ? {} : { cookie }),
        },
        payload: new URLSearchParams(body).toString(),
      })
    const signIn = await form('/login', {
      username: user.session.username,
      password: PASSWORD,
      next: '/app/account',
    })
    expect(signIn.statusCode).toBe(303)
    expect(signIn.headers.location).toBe('/login/mfa?next=%2Fapp%2Faccount')
    const mfaCookie = signIn.cookies.find((cookie) => cookie.name === 'gh_mfa')
    expect(mfaCookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/login/mfa' })
    expect(signIn.cookies.some((cookie) => cookie.name === 'gh_session')).toBe(false)
    const cookie = `gh_mfa=${mfaCookie?.value}`

    const page = await app.inject({ url: '/login/mfa?next=%2Fapp%2Faccount', headers: { cookie } })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('<label for="code">')
    expect(page.body).toContain('autocomplete="one-time-code"')
    // Without the cookie there is no password step behind the page.
    const bare = await app.inject({ url: '/login/mfa' })
    expect(bare.statusCode).toBe(303)
    expect(bare.headers.location).toBe('/login')

    const wrong = await form('/login/mfa', { code: '000000', next: '/app/account' }, cookie)
    expect(wrong.statusCode).toBe(401)
    expect(wrong.body).toContain('role="alert"')
    const crossSite = await app.inject({
      method: 'POST',
      url: '/login/mfa',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'cross-site',
        cookie,
      },
      payload: `code=${codeAt(user.secret, 1)}`,
    })
    expect(crossSite.statusCode).toBe(403)
    const right = await form(
      '/login/mfa',
      { code: codeAt(user.secret, 1), next: '/app/account' },
      cookie,
    )
    expect(right.statusCode).toBe(303)
    expect(right.headers.location).toBe('/app/account')
    const session = right.cookies.find((c) => c.name === 'gh_session')
    expect(session?.value).toEqual(expect.any(String))
    const profile = await app.inject({
      url: '/api/v1/profile',
      headers: { cookie: `gh_session=${session?.value}` },
    })
    expect(json(profile).username).toBe(user.session.username)
  })

  it('every §10 two-factor kind is in the audit log', async () => {
    const user = await twoFactorUser(app)
    await codeLogin(app, await mfaToken(app, user.session.username), '000000')
    await codeLogin(app, await mfaToken(app, user.session.username), String(user.recoveryCodes[0]))
    await app.inject({
      method: 'DELETE',
      url: '/api/v1/profile/mfa/totp',
      headers: user.session.headers,
      payload: { password: PASSWORD, code: String(user.recoveryCodes[1]) },
    })
    const admin = await loginAdmin(app)
    const audit = await app.inject({ url: '/api/v1/audit?limit=100', headers: admin.headers })
    const kinds = json<{ items: { kind: string; actor_id: string }[] }>(audit)
      .items.filter((event) => event.actor_id === user.session.id)
      .map((event) => event.kind)
    for (const kind of ['mfa.enable', 'mfa.failure', 'mfa.recovery_code', 'mfa.disable']) {
      expect(kinds).toContain(kind)
    }
  })

  it('after set-up the secret is in no answer, and not in the database as it is', async () => {
    const user = await twoFactorUser(app)
    const token = await mfaToken(app, user.session.username)
    const answers = [
      await codeLogin(app, token, codeAt(user.secret, 1)),
      await app.inject({ url: '/api/v1/profile', headers: user.session.headers }),
      await app.inject({
        url: '/api/v1/audit?limit=100',
        headers: (await loginAdmin(app)).headers,
      }),
      await app.inject({ url: '/api/v1/openapi.json' }),
    ]
    for (const answer of answers) expect(answer.body).not.toContain(user.secret)
    const files = ['test.db', 'test.db-wal'].map((name) => path.join(dataDir, name))
    for (const file of files.filter((name) => existsSync(name))) {
      expect(readFileSync(file).includes(user.secret)).toBe(false)
      expect(readFileSync(file).includes(String(user.recoveryCodes[2]))).toBe(false)
    }
  })
})

describe('wrong codes count toward the credential-guessing limits (API.md §3)', async () => {
  const { app } = await buildTestApp({ RATE_LIMIT: 'true' })

  it('11 wrong codes from one client → 429 with Retry-After, even for the right code', async () => {
    const user = await twoFactorUser(app)
    const client = `10.77.${randomInt(0, 255)}.${randomInt(1, 255)}`
    const tokens = [
      await mfaToken(app, user.session.username, client),
      await mfaToken(app, user.session.username, client),
      await mfaToken(app, user.session.username, client),
    ]
    for (let i = 0; i < 10; i += 1) {
      const token = String(tokens[Math.floor(i / 5)])
      expectProblem(await codeLogin(app, token, String(200000 + i), client), 401)
    }
    const limited = await codeLogin(app, String(tokens[2]), '299999', client)
    expectProblem(limited, 429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expectProblem(await codeLogin(app, String(tokens[2]), codeAt(user.secret, 1), client), 429)
    // Another client is not held back.
    expectTokens(
      await codeLogin(
        app,
        await mfaToken(app, user.session.username, '10.78.0.1'),
        codeAt(user.secret, 1),
        '10.78.0.1',
      ),
    )
  })
})
