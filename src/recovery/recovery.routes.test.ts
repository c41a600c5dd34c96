import type { LightMyRequestResponse } from 'fastify'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { expectProblem } from '../../test/auth.js'
import {
  basic,
  bearer,
  buildTestApp,
  json,
  login,
  loginAdmin,
  PASSWORD,
} from '../../test/helpers.js'
import { eventually, linkIn, type ReceivedMail, startSmtpServer } from '../../test/smtp.js'

const PUBLIC_URL = 'https://gatehouse.example.org'
const NEW_PASSWORD = 'a brand new and rather long passphrase'

interface User {
  id: string
  username: string
  email: string | null
  email_verified: boolean
  mfa_enabled: boolean
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const pathOf = (link: string) => {
  const url = new URL(link)
  return `${url.pathname}${url.search}`
}
const tokenOf = (link: string) => new URL(link).searchParams.get('token') ?? ''

async function recoverySuite() {
  const smtp = await startSmtpServer()
  afterAll(() => smtp.close())
  const { app } = await buildTestApp({ SMTP_URL: smtp.url, PUBLIC_URL, MAIL_RETRY_BASE_MS: '50' })
  const admin = await loginAdmin(app)
  afterEach(() => vi.useRealTimers())

  let seq = 0
  const unique = (label: string) => `${label}${process.pid}x${++seq}`
  const mailsTo = (email: string) =>
    smtp.mails.filter((mail) => mail.to.some((to) => to.toLowerCase() === email.toLowerCase()))
  /** The `n`th mail (from 1) to `email`, once it arrived. */
  const nthMailTo = (email: string, n: number) =>
    eventually(async () => mailsTo(email)[n - 1] as ReceivedMail | undefined)

  async function register(email?: string): Promise<User & { password: string }> {
    const username = unique('user')
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { username, password: PASSWORD, name: 'Test', ...(email ? { email } : {}) },
    })
    expect(response.statusCode, response.body).toBe(201)
    return { ...json<User>(response), password: PASSWORD }
  }

  async function verifiedUser(): Promise<User & { email: string }> {
    const email = `${unique('v')}@example.com`
    const user = await register(email)
    const link = linkIn(await nthMailTo(email, 1), `${PUBLIC_URL}/verify-email?token=`)
    const verified = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/email/verify',
      payload: { token: tokenOf(link) },
    })
    expect(verified.statusCode, verified.body).toBe(200)
    return { ...user, email, email_verified: true }
  }

  const profile = async (headers: Record<string, string>) =>
    app.inject({ url: '/api/v1/profile', headers })
  const userById = async (id: string) =>
    json<User>(await app.inject({ url: `/api/v1/users/${id}`, headers: admin.headers }))
  const requestReset = (login: string) =>
    app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { login } })
  /** The newest events of `kind`, by `actorId` when given. */
  const auditKinds = async (kind: string, actorId?: string) =>
    json<{ items: { kind: string; actor_id: string | null; detail: Record<string, string> }[] }>(
      await app.inject({
        url: `/api/v1/audit?kind=${kind}&limit=100${actorId === undefined ? '' : `&actor_id=${actorId}`}`,
        headers: admin.headers,
      }),
    ).items

  it('registration with an email: unverified, mailed a link; GET of the page changes nothing, its POST verifies once', async () => {
    const email = `${unique('Ada')}@Example.com`
    const user = await register(email)
    expect(user).toMatchObject({ email, email_verified: false, mfa_enabled: false })

    const mail = await nthMailTo(email, 1)
    expect(mail.parsed.subject).toContain('Gatehouse')
    const link = linkIn(mail, `${PUBLIC_URL}/verify-email?token=`)
    expect(Buffer.from(tokenOf(link), 'base64url').length).toBeGreaterThanOrEqual(16)

    const page = await app.inject({ url: pathOf(link) })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'")
    expect(page.body).toContain('<form method="post"')
    expect((await userById(user.id)).email_verified).toBe(false)

    const done = await app.inject({ method: 'POST', url: pathOf(link) })
    expect(done.statusCode, done.body).toBe(200)
    expect(await userById(user.id)).toMatchObject({ email, email_verified: true })

    const again = await app.inject({ method: 'POST', url: pathOf(link) })
    expect(again.statusCode).toBe(400)
    expect(again.headers['content-type']).toMatch(/text\/html/)
    const api = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/email/verify',
      payload: { token: tokenOf(link) },
    })
    expectProblem(api, 400, 'Invalid token')
    expect((await auditKinds('email.verify')).some((event) => event.actor_id === user.id)).toBe(
      true,
    )
  })

  it('a forged or expired verification token is 400 and verifies nothing', async () => {
    const email = `${unique('late')}@example.com`
    const user = await register(email)
    const link = linkIn(await nthMailTo(email, 1), `${PUBLIC_URL}/verify-email?token=`)
    const forged = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/email/verify',
      payload: { token: `${tokenOf(link).slice(0, -2)}AA` },
    })
    expectProblem(forged, 400)
    // 48 hours and a minute later, on the server's clock.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + (48 * 60 + 1) * 60_000 })
    const expired = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/email/verify',
      payload: { token: tokenOf(link) },
    })
    vi.useRealTimers()
    expectProblem(expired, 400)
    expect((await userById(user.id)).email_verified).toBe(false)
  })

  it('PATCH /profile with a new address: unverified, mailed a link; the old verified address gets a notice; the old link is dead', async () => {
    const user = await verifiedUser()
    const session = await login(app, user.username, PASSWORD)
    const oldLinkMail = mailsTo(user.email)[0] as ReceivedMail
    const next = `${unique('next')}@example.com`
    const changed = await app.inject({
      method: 'PATCH',
      url: '/api/v1/profile',
      headers: session.headers,
      payload: { email: next },
    })
    expect(changed.statusCode, changed.body).toBe(200)
    expect(json<User>(changed)).toMatchObject({ email: next, email_verified: false })

    const notice = await nthMailTo(user.email, 2)
    expect(notice.parsed.text).toContain('Gatehouse')
    expect(notice.parsed.text).not.toContain('token=')
    expect(notice.parsed.text).not.toContain(next)

    // The first address's link, already used, stays dead; the new one verifies the new address.
    const oldLink = linkIn(oldLinkMail, `${PUBLIC_URL}/verify-email?token=`)
    expectProblem(
      await app.inject({
        method: 'POST',
        url: '/api/v1/profile/email/verify',
        payload: { token: tokenOf(oldLink) },
      }),
      400,
    )
    const link = linkIn(await nthMailTo(next, 1), `${PUBLIC_URL}/verify-email?token=`)
    const verified = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/email/verify',
      payload: { token: tokenOf(link) },
    })
    expect(json<User>(verified)).toMatchObject({ id: user.id, email: next, email_verified: true })
  })

  it('PATCH /profile: email must be an address or null (removes it); an unknown field or an empty patch is 400', async () => {
    const user = await register(`${unique('p')}@example.com`)
    const session = await login(app, user.username, PASSWORD)
    const patch = (payload: Record<string, unknown>) =>
      app.inject({ method: 'PATCH', url: '/api/v1/profile', headers: session.headers, payload })
    for (const payload of [
      { email: 'not an address' },
      { email: 'a@b' },
      { email: 42 },
      { email_verified: true },
      { mfa_enabled: true },
      {},
    ]) {
      expectProblem(await patch(payload), 400)
    }
    expect(await userById(user.id)).toMatchObject({ email: user.email, email_verified: false })
    const removed = await patch({ email: null })
    expect(json<User>(removed)).toMatchObject({ email: null, email_verified: false })
    // The link mailed to the removed address verifies nothing now.
    const link = linkIn(await nthMailTo(user.email ?? '', 1), `${PUBLIC_URL}/verify-email?token=`)
    expect((await app.inject({ method: 'POST', url: pathOf(link) })).statusCode).toBe(400)
    expect(await userById(user.id)).toMatchObject({ email: null, email_verified: false })
  })

  it('an account causes at most 5 mails about new addresses an hour: changing back and forth bombs nobody', async () => {
    const user = await register()
    const session = await login(app, user.username, PASSWORD)
    const addresses = Array.from({ length: 7 }, (_, i) => `${unique(`bomb${i}`)}@example.com`)
    for (const email of addresses) {
      const response = await app.inject({
        method: 'PATCH',
        url: '/api/v1/profile',
        headers: session.headers,
        payload: { email },
      })
      expect(json<User>(response)).toMatchObject({ email, email_verified: false })
    }
    await nthMailTo(addresses[4] ?? '', 1)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(addresses.map((email) => mailsTo(email).length)).toEqual([1, 1, 1, 1, 1, 0, 0])
  })

  it('the pages refuse a forged token with a 400 page and change nothing', async () => {
    const verify = await app.inject({ method: 'POST', url: '/verify-email?token=forged' })
    expect(verify.statusCode).toBe(400)
    expect(verify.body).toContain('This link does not work')
    const reset = await app.inject({
      method: 'POST',
      url: '/reset-password?token=forged',
      headers: FORM,
      payload: form({ new_password: NEW_PASSWORD }),
    })
    expect(reset.statusCode).toBe(400)
    expect(reset.body).toContain('This link does not work')
    const page = await app.inject({ url: '/reset-password?token=%22%3E%3Cscript%3E' })
    expect(page.statusCode).toBe(200)
    expect(page.body).not.toContain('"><script>')
  })

  it('a link for an address the user has replaced since verifies nothing', async () => {
    const first = `${unique('first')}@example.com`
    const user = await register(first)
    const session = await login(app, user.username, PASSWORD)
    const link = linkIn(await nthMailTo(first, 1), `${PUBLIC_URL}/verify-email?token=`)
    const second = `${unique('second')}@example.com`
    await app.inject({
      method: 'PATCH',
      url: '/api/v1/profile',
      headers: session.headers,
      payload: { email: second },
    })
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/email/verify',
      payload: { token: tokenOf(link) },
    })
    expectProblem(response, 400)
    expect(await userById(user.id)).toMatchObject({ email: second, email_verified: false })
  })

  it('registering with an address another account has verified reveals nothing: created without it, the address is told', async () => {
    const owner = await verifiedUser()
    const before = mailsTo(owner.email).length
    const taken = await register(owner.email.toUpperCase())
    expect(taken).toMatchObject({ email: null, email_verified: false })
    const notice = await nthMailTo(owner.email, before + 1)
    expect(notice.parsed.text).toContain('already belongs to your account')
    expect(notice.parsed.text).not.toContain('token=')
  })

  it('registering with an address another account has given but not verified reveals nothing: created without it, the address is told, the first account keeps it', async () => {
    const email = `${unique('a')}@x.example`
    const alice = await register(email)
    const aliceLink = linkIn(await nthMailTo(email, 1), `${PUBLIC_URL}/verify-email?token=`)
    const bob = await register(email.toUpperCase())
    expect(bob).toMatchObject({ email: null, email_verified: false })
    const notice = await nthMailTo(email, 2)
    expect(notice.parsed.text).toContain('Another account has already given this address')
    expect(notice.parsed.text).not.toContain('token=')
    expect(await userById(bob.id)).toMatchObject({ email: null, email_verified: false })
    expect(await userById(alice.id)).toMatchObject({ email, email_verified: false })
    // The first account's link still verifies the address, for that account.
    expect((await app.inject({ method: 'POST', url: pathOf(aliceLink) })).statusCode).toBe(200)
    expect(await userById(alice.id)).toMatchObject({ email, email_verified: true })
  })

  it('password reset end to end: the link in the mail, a GET that changes nothing, a POST that sets it; every old credential is refused', async () => {
    const user = await verifiedUser()
    const tokens = await login(app, user.username, PASSWORD)
    const apiKey = json<{ key: string }>(
      await app.inject({
        method: 'POST',
        url: '/api/v1/profile/api-keys',
        headers: tokens.headers,
        payload: { name: 'ci' },
      }),
    ).key
    const signIn = await app.inject({
      method: 'POST',
      url: '/login',
      headers: FORM,
      payload: form({ username: user.username, password: PASSWORD }),
    })
    expect(signIn.statusCode).toBe(303)
    const setCookie = [signIn.headers['set-cookie']].flat().join('\n')
    // PUBLIC_URL is https: the cookie is __Host-gh_session.
    const cookie = /__Host-gh_session=[^;]+/.exec(setCookie)?.[0] ?? ''
    expect(cookie).not.toBe('')
    const oldCredentials = {
      access: tokens.headers,
      basic: basic(user.username, PASSWORD),
      cookie: { cookie },
      apiKey: bearer(apiKey),
    }
    for (const [name, headers] of Object.entries(oldCredentials)) {
      expect((await profile(headers)).statusCode, name).toBe(200)
    }

    const asked = await requestReset(user.username)
    expect(asked.statusCode).toBe(202)
    expect(json(asked)).toEqual({ status: 'sent' })
    const mail = await nthMailTo(user.email, 2)
    const link = linkIn(mail, `${PUBLIC_URL}/reset-password?token=`)
    expect(Buffer.from(tokenOf(link), 'base64url').length).toBeGreaterThanOrEqual(16)

    const page = await app.inject({ url: pathOf(link) })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('<label for="new_password">')
    expect((await profile(oldCredentials.basic)).statusCode).toBe(200)

    // A password the rules refuse spends nothing: the form comes back, the link still works.
    const weak = await app.inject({
      method: 'POST',
      url: pathOf(link),
      headers: FORM,
      payload: form({ new_password: 'short' }),
    })
    expect(weak.statusCode).toBe(400)
    expect(weak.body).toContain('<label for="new_password">')
    expect((await profile(oldCredentials.basic)).statusCode).toBe(200)

    const done = await app.inject({
      method: 'POST',
      url: pathOf(link),
      headers: FORM,
      payload: form({ new_password: NEW_PASSWORD }),
    })
    expect(done.statusCode, done.body).toBe(200)

    for (const [name, headers] of Object.entries(oldCredentials)) {
      expect((await profile(headers)).statusCode, name).toBe(401)
    }
    const refresh = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: tokens.refreshToken },
    })
    expect(refresh.statusCode).toBe(401)
    expect((await profile(basic(user.username, NEW_PASSWORD))).statusCode).toBe(200)

    const changedMail = await nthMailTo(user.email, 3)
    expect(changedMail.parsed.subject).toContain('password was changed')
    expect(changedMail.parsed.text).not.toContain('token=')

    const reused = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset/confirm',
      payload: { token: tokenOf(link), new_password: 'yet another long passphrase' },
    })
    expectProblem(reused, 400, 'Invalid token')
    expect((await profile(basic(user.username, NEW_PASSWORD))).statusCode).toBe(200)
    const kinds = [
      ...(await auditKinds('password.reset.request')),
      ...(await auditKinds('password.reset')),
    ]
    expect(kinds.filter((event) => event.actor_id === user.id).map((e) => e.kind)).toEqual([
      'password.reset.request',
      'password.reset',
    ])
  })

  it('reset by address through the API; one link used kills the others; a forged or expired one is 400', async () => {
    const user = await verifiedUser()
    expect((await requestReset(user.email.toUpperCase())).statusCode).toBe(202)
    expect((await requestReset(user.username)).statusCode).toBe(202)
    const first = tokenOf(linkIn(await nthMailTo(user.email, 2), `${PUBLIC_URL}/reset-password`))
    const second = tokenOf(linkIn(await nthMailTo(user.email, 3), `${PUBLIC_URL}/reset-password`))
    const confirm = (token: string, password = NEW_PASSWORD) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/auth/password-reset/confirm',
        payload: { token, new_password: password },
      })
    expectProblem(await confirm(`${second}x`), 400)
    // PASSWORD_RESET_TTL (30 minutes by default) and a second later.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 1801_000 })
    const expired = await confirm(second)
    vi.useRealTimers()
    expectProblem(expired, 400)
    expect((await profile(basic(user.username, PASSWORD))).statusCode).toBe(200)

    // Both are live again at the real time: the second one is used, the first dies with it.
    expect((await confirm(second)).statusCode).toBe(204)
    expectProblem(await confirm(first, 'and one more long passphrase'), 400)
    expect((await profile(basic(user.username, NEW_PASSWORD))).statusCode).toBe(200)
  })

  it('unknown user, no address and an unverified address: the same 202 body, no mail; median times within 0.5–2× of a real request', async () => {
    const known = await verifiedUser()
    const noEmail = await register()
    const unverifiedEmail = `${unique('unverified')}@example.com`
    const unverified = await register(unverifiedEmail)
    const cases = {
      known: known.username,
      unknown: unique('nobody'),
      noEmail: noEmail.username,
      unverified: unverified.username,
      unverifiedByAddress: unverifiedEmail,
      unknownAddress: `${unique('nobody')}@example.com`,
    }
    const bodies = new Set<string>()
    const TRIES = 30
    let mailed = 1
    /** The median time of each case over TRIES requests, interleaved. */
    async function measure(): Promise<Record<string, number>> {
      const times = new Map<string, number[]>(Object.keys(cases).map((name) => [name, []]))
      for (let i = 0; i < TRIES; i++) {
        // A new order each round, so that whatever else runs (the delivery of earlier mails,
        // which polls on its own time, other processes) weighs on every case alike.
        for (const [name, login] of Object.entries(cases).sort(() => Math.random() - 0.5)) {
          const started = process.hrtime.bigint()
          const response: LightMyRequestResponse = await requestReset(login)
          times.get(name)?.push(Number(process.hrtime.bigint() - started) / 1e6)
          expect(response.statusCode).toBe(202)
          bodies.add(response.body)
        }
        mailed += 1
      }
      const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1] ?? 0
      return Object.fromEntries([...times].map(([name, values]) => [name, median(values)]))
    }
    const withinRange = (medians: Record<string, number>) =>
      Object.values(medians).every((value) => {
        const ratio = value / (medians.known ?? 0)
        return ratio >= 0.5 && ratio <= 2
      })
    // A few untimed rounds first: the first requests of a path pay for compiling its code.
    for (let i = 0; i < 3; i++) {
      for (const login of Object.values(cases)) await requestReset(login)
      mailed += 1
    }
    // On a machine busy with other work (other test files run in parallel) a request waits for
    // a core now and then, which can move a median of 30 by more than 2× either way: the
    // measurement is taken again, up to five times. A real difference in the work (a mail
    // sent, a hash) shows in every one.
    const measured: Record<string, number>[] = []
    for (let attempt = 0; attempt < 5; attempt++) {
      measured.push(await measure())
      if (withinRange(measured.at(-1) ?? {})) break
    }
    console.log(`password-reset request median ms: ${JSON.stringify(measured)}`)
    expect(withinRange(measured.at(-1) ?? {}), JSON.stringify(measured)).toBe(true)
    expect([...bodies]).toEqual(['{"status":"sent"}'])
    await nthMailTo(known.email, mailed)
    expect(mailsTo(unverifiedEmail)).toHaveLength(1) // its verification link only
  }, 180_000)

  it('admins: mail a reset link (202; 404; 409 without a verified address) and set a password (204, sessions end); users are refused', async () => {
    const user = await verifiedUser()
    const member = await register()
    const memberSession = await login(app, member.username, PASSWORD)
    const url = (id: string, what: string) => `/api/v1/users/${id}/${what}`
    const unknown = '01900000-0000-7000-8000-000000000000'

    const sent = await app.inject({
      method: 'POST',
      url: url(user.id, 'password-reset'),
      headers: admin.headers,
    })
    expect(sent.statusCode).toBe(202)
    expect(json(sent)).toEqual({ status: 'sent' })
    const link = linkIn(await nthMailTo(user.email, 2), `${PUBLIC_URL}/reset-password?token=`)
    expect(tokenOf(link).length).toBeGreaterThan(20)
    expectProblem(
      await app.inject({
        method: 'POST',
        url: url(unknown, 'password-reset'),
        headers: admin.headers,
      }),
      404,
    )
    expectProblem(
      await app.inject({
        method: 'POST',
        url: url(member.id, 'password-reset'),
        headers: admin.headers,
      }),
      409,
    )
    expectProblem(
      await app.inject({
        method: 'POST',
        url: url(user.id, 'password-reset'),
        headers: memberSession.headers,
      }),
      403,
      'Admins only',
    )

    const set = (id: string, headers: Record<string, string>, password = NEW_PASSWORD) =>
      app.inject({
        method: 'PUT',
        url: url(id, 'password'),
        headers,
        payload: { new_password: password },
      })
    expectProblem(await set(member.id, memberSession.headers), 403)
    expectProblem(await set(member.id, admin.headers, 'short'), 400)
    expectProblem(await set(unknown, admin.headers), 404)
    expect((await profile(memberSession.headers)).statusCode).toBe(200)
    expect((await set(member.id, admin.headers)).statusCode).toBe(204)
    expect((await profile(memberSession.headers)).statusCode).toBe(401)
    expect((await profile(basic(member.username, PASSWORD))).statusCode).toBe(401)
    expect((await profile(basic(member.username, NEW_PASSWORD))).statusCode).toBe(200)

    const events = await auditKinds('password.set_by_admin', admin.id)
    expect(events.map((event) => event.detail.user_id)).toContain(member.id)
    const requests = await auditKinds('password.reset.request', admin.id)
    expect(requests.map((event) => event.detail.user_id)).toContain(user.id)
  })
}

describe('email verification and password recovery (API.md §10)', recoverySuite)

async function rateLimitSuite() {
  const smtp = await startSmtpServer()
  afterAll(() => smtp.close())
  const { app } = await buildTestApp({
    SMTP_URL: smtp.url,
    PUBLIC_URL,
    RATE_LIMIT: 'true',
    // Requests from inject's default address come through a proxy that names the client.
    TRUSTED_PROXIES: '127.0.0.1',
  })
  const mailsTo = (email: string) => smtp.mails.filter((mail) => mail.to.includes(email))

  const ask = (login: string, remoteAddress: string) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset',
      payload: { login },
      remoteAddress,
    })
  const askThroughProxy = (login: string, client: string) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/auth/password-reset',
      payload: { login },
      headers: { 'x-forwarded-for': client },
    })

  async function verified(username: string, email: string) {
    await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { username, password: PASSWORD, name: 'Limited', email },
      remoteAddress: '10.9.9.9',
    })
    const mail = await eventually(async () => mailsTo(email)[0])
    const token = tokenOf(linkIn(mail, `${PUBLIC_URL}/verify-email?token=`))
    await app.inject({ method: 'POST', url: '/api/v1/profile/email/verify', payload: { token } })
  }

  it('5 requests an hour per client address, then 429 with Retry-After', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await ask(`someone${i}`, '10.1.1.1')).statusCode).toBe(202)
    }
    const refused = await ask('someone-else', '10.1.1.1')
    expectProblem(refused, 429)
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    expect((await ask('someone-else', '10.1.1.2')).statusCode).toBe(202)
  })

  it('3 an hour per account, however it is named and from whichever client: the 4th is 429 with Retry-After; 3 links mailed', async () => {
    const username = `pat${process.pid}`
    const email = `pat.${process.pid}@example.test`
    await verified(username, email)
    const names = [username, email.toUpperCase(), username]
    for (const [i, login] of names.entries()) {
      expect((await askThroughProxy(login, `203.0.113.${i + 1}`)).statusCode).toBe(202)
    }
    const refused = await askThroughProxy(email, '203.0.113.9')
    expectProblem(refused, 429)
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    await eventually(async () => (mailsTo(email).length >= 4 ? true : undefined))
    // Reset mails go at delivery's next poll (a second at most): wait past it for a fifth.
    await new Promise((resolve) => setTimeout(resolve, 1500))
    expect(mailsTo(email)).toHaveLength(4) // the verification link and 3 reset links
  })

  it('a login that names no account, or one without a verified address, is limited alike: a 429 tells nothing', async () => {
    const unverified = `unverified${process.pid}`
    const unverifiedEmail = `unverified.${process.pid}@example.test`
    const registered = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { username: unverified, password: PASSWORD, name: 'U', email: unverifiedEmail },
      remoteAddress: '10.9.9.8',
    })
    expect(registered.statusCode).toBe(201)
    const cases: [typed: string, again: string][] = [
      ['no-such-user', 'no-such-user'],
      ['No.Such@Example.test', 'no.such@example.test'],
      [unverified, unverified],
      [unverifiedEmail.toUpperCase(), unverifiedEmail],
    ]
    for (const [n, [typed, again]] of cases.entries()) {
      for (let i = 0; i < 3; i++) {
        const asked = await ask(typed, `10.3.${n}.${i}`)
        expect(asked.statusCode, typed).toBe(202)
        expect(asked.body).toBe('{"status":"sent"}')
      }
      const refused = await ask(again, `10.3.${n}.9`)
      expectProblem(refused, 429)
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    }
  })
}

describe('password reset rate limits', rateLimitSuite)
