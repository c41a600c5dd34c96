import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { expectProblem, sleep } from '../../test/auth.js'
import {
  ADMIN,
  basic,
  buildTestApp,
  createTodo,
  json,
  loginAdmin,
  newUser,
  PASSWORD,
  type Session,
} from '../../test/helpers.js'

/** The cookies a response set, by name: value and attributes as sent. */
function setCookies(response: LightMyRequestResponse): Map<string, string> {
  const header = response.headers['set-cookie']
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [header]
  return new Map(lines.map((line) => [line.slice(0, line.indexOf('=')), line]))
}

interface Browser {
  /** The Cookie header a browser would send. */
  cookie: string
  csrf: string
  sessionCookie: string
}

function formBody(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString()
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

async function signIn(
  app: FastifyInstance,
  username: string,
  password = PASSWORD,
  next?: string,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/login',
    headers: FORM,
    payload: formBody({ username, password, ...(next === undefined ? {} : { next }) }),
  })
}

/** Signs in through the form, as a browser does, and keeps the two cookies. */
async function browserFor(app: FastifyInstance, username: string, name = 'gh_session') {
  const response = await signIn(app, username)
  expect(response.statusCode, response.body).toBe(303)
  const cookies = setCookies(response)
  const session = cookies.get(name)?.split(';')[0]?.split('=')[1] ?? ''
  const csrf = cookies.get('gh_csrf')?.split(';')[0]?.split('=')[1] ?? ''
  return {
    cookie: `${name}=${session}; gh_csrf=${csrf}`,
    csrf,
    sessionCookie: session,
  } satisfies Browser
}

const withCookie = (browser: Browser, extra: Record<string, string> = {}) => ({
  cookie: browser.cookie,
  ...extra,
})
const withCsrf = (browser: Browser, extra: Record<string, string> = {}) =>
  withCookie(browser, { 'x-csrf-token': browser.csrf, ...extra })

describe('the login page and cookie sessions (API.md §3)', async () => {
  const { app } = await buildTestApp({ PUBLIC_URL: 'http://gatehouse.test' })

  it('GET /login is a form that works without JavaScript, labelled, under the page CSP', async () => {
    const response = await app.inject({ method: 'GET', url: '/login?next=/app/account' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/^text\/html/)
    expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'")
    expect(response.body).toMatch(/<form method="post" action="\/login"/)
    expect(response.body).toContain('<label for="username">')
    expect(response.body).toContain('<label for="password">')
    expect(response.body).toContain('name="next" value="/app/account"')
    expect(response.body.match(/<h1>/g)).toHaveLength(1)
    expect(response.body).not.toMatch(/<script(?![^>]*\bsrc=)/)
  })

  it('a right password: 303 to next and two cookies with the attributes of §3', async () => {
    const user = await newUser(app)
    const response = await signIn(app, user.username, PASSWORD, '/app/account?tab=keys')
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe('/app/account?tab=keys')
    const cookies = setCookies(response)
    const session = cookies.get('gh_session') ?? ''
    expect(session).toMatch(/^gh_session=[A-Za-z0-9_-]{43};/)
    expect(session).toMatch(/; HttpOnly/i)
    expect(session).toMatch(/; SameSite=Lax/i)
    expect(session).toMatch(/; Path=\//)
    // REFRESH_TOKEN_TTL (30 days) from the login, to the second.
    expect(session).toMatch(/; Max-Age=2592000;/)
    expect(session).not.toMatch(/; Secure/i)
    const csrf = cookies.get('gh_csrf') ?? ''
    expect(csrf).toMatch(/; SameSite=Strict/i)
    expect(csrf).toMatch(/; Path=\//)
    expect(csrf).not.toMatch(/HttpOnly/i)
  })

  it('a wrong password and an unknown user get the same 401 form, and no cookie', async () => {
    const user = await newUser(app)
    const wrong = await signIn(app, user.username, 'not the password at all')
    const unknown = await signIn(app, 'nobody-here', 'not the password at all')
    for (const response of [wrong, unknown]) {
      expect(response.statusCode).toBe(401)
      expect(response.headers['content-type']).toMatch(/^text\/html/)
      expect(response.headers['set-cookie']).toBeUndefined()
      expect(response.body).toContain('Invalid username or password')
      expect(response.body).toContain('<form method="post" action="/login"')
    }
    expect(wrong.body.replace(user.username, 'nobody-here')).toBe(unknown.body)
  })

  it('an empty form gets the form back with a message, checking no password', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/login',
      headers: FORM,
      payload: '',
    })
    expect(response.statusCode).toBe(400)
    expect(response.body).toContain('Enter your username and password.')
  })

  it.each([
    '//evil.example',
    'https://evil.example',
    '/\\evil.example',
    '/\t/evil.example',
    'javascript:alert(1)',
    '',
  ])('next=%j lands on /app', async (next) => {
    const user = await newUser(app)
    const response = await signIn(app, user.username, PASSWORD, next)
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe('/app')
    const page = await app.inject({ method: 'GET', url: `/login?next=${encodeURIComponent(next)}` })
    expect(page.body).toContain('name="next" value="/app"')
  })

  it('the session cookie authenticates every /api/v1 endpoint that needs a user', async () => {
    const user = await newUser(app)
    const browser = await browserFor(app, user.username)
    const privateAnswer = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expect(privateAnswer.statusCode).toBe(200)
    const profile = await app.inject({
      method: 'GET',
      url: '/api/v1/profile',
      headers: withCookie(browser),
    })
    expect(json(profile).username).toBe(user.username)
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/todos',
      headers: withCsrf(browser),
      payload: { title: 'from the browser' },
    })
    expect(created.statusCode, created.body).toBe(201)
    const sessions = await app.inject({
      method: 'GET',
      url: '/api/v1/profile/sessions',
      headers: withCookie(browser),
    })
    const current = json<{ items: { id: string; current: boolean }[] }>(sessions).items.filter(
      (s) => s.current,
    )
    expect(current).toHaveLength(1)
  })

  it('every unsafe method with the cookie but without the CSRF token is 403 and changes nothing', async () => {
    const user = await newUser(app)
    const browser = await browserFor(app, user.username)
    const todo = await createTodo(app, user, { title: 'keep me' })
    const other = await browserFor(app, (await newUser(app)).username)
    const attempts = [
      { method: 'POST' as const, url: '/api/v1/todos', payload: { title: 'forged' } },
      { method: 'PUT' as const, url: `/api/v1/todos/${todo.id}`, payload: { title: 'forged' } },
      { method: 'PATCH' as const, url: `/api/v1/todos/${todo.id}`, payload: { title: 'forged' } },
      { method: 'DELETE' as const, url: `/api/v1/todos/${todo.id}` },
      { method: 'PATCH' as const, url: '/api/v1/profile', payload: { name: 'Forged' } },
      { method: 'DELETE' as const, url: '/api/v1/profile/sessions' },
      { method: 'POST' as const, url: '/api/v1/profile/api-keys', payload: { name: 'forged' } },
    ]
    for (const attempt of attempts) {
      for (const headers of [
        withCookie(browser),
        withCookie(browser, { 'x-csrf-token': 'not-the-token' }),
        // Another session's token does not fit this one.
        withCookie(browser, { 'x-csrf-token': other.csrf }),
      ]) {
        const response = await app.inject({ ...attempt, headers })
        expectProblem(response, 403, 'CSRF token missing or invalid')
      }
    }
    const after = await app.inject({
      method: 'GET',
      url: `/api/v1/todos/${todo.id}`,
      headers: user.headers,
    })
    expect(json(after).title).toBe('keep me')
    const list = await app.inject({ method: 'GET', url: '/api/v1/todos', headers: user.headers })
    expect(json<{ items: unknown[] }>(list).items).toHaveLength(1)
    const profile = await app.inject({
      method: 'GET',
      url: '/api/v1/profile',
      headers: user.headers,
    })
    expect(json(profile).name).not.toBe('Forged')
    const keys = await app.inject({
      method: 'GET',
      url: '/api/v1/profile/api-keys',
      headers: user.headers,
    })
    expect(json<{ items: unknown[] }>(keys).items).toHaveLength(0)
    // The browser's session itself was not ended by the forged DELETE.
    const still = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expect(still.statusCode).toBe(200)
  })

  it('a cross-site Origin or Sec-Fetch-Site: cross-site is 403 even with the token', async () => {
    const user = await newUser(app)
    const browser = await browserFor(app, user.username)
    const crossSite: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
    ]
    for (const extra of crossSite) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/todos',
        headers: withCsrf(browser, extra),
        payload: { title: 'forged' },
      })
      expectProblem(response, 403)
    }
    const sameSite = await app.inject({
      method: 'POST',
      url: '/api/v1/todos',
      headers: withCsrf(browser, {
        origin: 'http://gatehouse.test',
        'sec-fetch-site': 'same-origin',
      }),
      payload: { title: 'mine' },
    })
    expect(sameSite.statusCode).toBe(201)
    const list = await app.inject({ method: 'GET', url: '/api/v1/todos', headers: user.headers })
    expect(json<{ items: { title: string }[] }>(list).items.map((t) => t.title)).toEqual(['mine'])
  })

  it('a request with an Authorization header is judged by it alone: cookies are ignored', async () => {
    const user = await newUser(app)
    const browser = await browserFor(app, user.username)
    const badBearer = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser, { authorization: 'Bearer not-a-token' }),
    })
    expect(badBearer.statusCode).toBe(401)
    // Another user's Basic credentials with this browser's cookie: the request is that user's,
    // and needs no CSRF token (nothing ambient decided it).
    const asAdmin = await app.inject({
      method: 'GET',
      url: '/api/v1/profile',
      headers: withCookie(browser, basic(ADMIN.username, ADMIN.password)),
    })
    expect(json(asAdmin).username).toBe(ADMIN.username)
    const write = await app.inject({
      method: 'POST',
      url: '/api/v1/todos',
      headers: withCookie(browser, user.headers),
      payload: { title: 'by bearer' },
    })
    expect(write.statusCode).toBe(201)
  })

  it('a stale cookie is a signed-out visitor: 401 where a user is needed', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: { cookie: 'gh_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
    })
    expectProblem(response, 401)
  })

  it('a session ended from another session stops the cookie at once', async () => {
    const user = await newUser(app)
    const browser = await browserFor(app, user.username)
    const sessions = await app.inject({
      method: 'GET',
      url: '/api/v1/profile/sessions',
      headers: withCookie(browser),
    })
    const cookieSession = json<{ items: { id: string; current: boolean }[] }>(sessions).items.find(
      (s) => s.current,
    )
    const ended = await app.inject({
      method: 'DELETE',
      url: `/api/v1/profile/sessions/${cookieSession?.id}`,
      headers: user.headers,
    })
    expect(ended.statusCode).toBe(204)
    const after = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expectProblem(after, 401)
  })

  it('a password change elsewhere ends the cookie session; one made with the cookie keeps it', async () => {
    const user = await newUser(app)
    const elsewhere = await browserFor(app, user.username)
    const browser = await browserFor(app, user.username)
    const changed = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/password',
      headers: withCsrf(browser),
      payload: { current_password: PASSWORD, new_password: 'another fine test password' },
    })
    expect(changed.statusCode, changed.body).toBe(204)
    const kept = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expect(kept.statusCode).toBe(200)
    for (const ended of [elsewhere]) {
      const response = await app.inject({
        method: 'GET',
        url: '/api/v1/private',
        headers: withCookie(ended),
      })
      expectProblem(response, 401)
    }
    const bearer = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: user.headers,
    })
    expect(bearer.statusCode).toBe(401)
  })

  it('disabling the user ends the cookie session, and enabling again revives none', async () => {
    const user = await newUser(app)
    const admin = await loginAdmin(app)
    const browser = await browserFor(app, user.username)
    const setDisabled = (disabled: boolean) =>
      app.inject({
        method: 'PATCH',
        url: `/api/v1/users/${user.id}`,
        headers: admin.headers,
        payload: { disabled },
      })
    expect((await setDisabled(true)).statusCode).toBe(200)
    const whileDisabled = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expectProblem(whileDisabled, 401)
    expect((await setDisabled(false)).statusCode).toBe(200)
    const afterEnabling = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expectProblem(afterEnabling, 401)
  })

  it('POST /logout needs the _csrf field; with it the session ends and both cookies are cleared', async () => {
    const user = await newUser(app)
    const browser = await browserFor(app, user.username)
    const forged = await app.inject({
      method: 'POST',
      url: '/logout',
      headers: withCookie(browser, FORM),
      payload: '',
    })
    expect(forged.statusCode).toBe(403)
    expect(forged.body).toContain('CSRF token missing or invalid')
    const crossSite = await app.inject({
      method: 'POST',
      url: '/logout',
      headers: withCookie(browser, { ...FORM, 'sec-fetch-site': 'cross-site' }),
      payload: formBody({ _csrf: browser.csrf }),
    })
    expect(crossSite.statusCode).toBe(403)
    const still = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expect(still.statusCode).toBe(200)

    const response = await app.inject({
      method: 'POST',
      url: '/logout',
      headers: withCookie(browser, FORM),
      payload: formBody({ _csrf: browser.csrf }),
    })
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe('/login')
    const cleared = setCookies(response)
    expect(cleared.get('gh_session')).toMatch(
      /^gh_session=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i,
    )
    expect(cleared.get('gh_csrf')).toMatch(/^gh_csrf=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/i)
    const after = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expectProblem(after, 401)
  })

  it('POST /logout with no body: the X-CSRF-Token header will do, and without it 403', async () => {
    const user = await newUser(app)
    const browser = await browserFor(app, user.username)
    const forged = await app.inject({
      method: 'POST',
      url: '/logout',
      headers: withCookie(browser),
    })
    expect(forged.statusCode, forged.body).toBe(403)
    expect(forged.body).toContain('CSRF token missing or invalid')
    const response = await app.inject({
      method: 'POST',
      url: '/logout',
      headers: withCsrf(browser),
    })
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe('/login')
    expectProblem(
      await app.inject({ method: 'GET', url: '/api/v1/private', headers: withCookie(browser) }),
      401,
    )
    // The login page it leads to says so, once.
    const notice = setCookies(response).get('gh_notice') ?? ''
    expect(notice).toMatch(/; Path=\/login/)
    expect(notice).toMatch(/; HttpOnly/i)
    const page = await app.inject({
      method: 'GET',
      url: '/login',
      headers: { cookie: notice.split(';')[0] ?? '' },
    })
    expect(page.body).toContain('You are signed out.')
    expect(setCookies(page).get('gh_notice')).toMatch(/^gh_notice=;/)
    const again = await app.inject({ method: 'GET', url: '/login' })
    expect(again.body).not.toContain('You are signed out.')
  })

  it('the sign-in form takes a post from a page of the address it was sent to, not from another site', async () => {
    const user = await newUser(app)
    const post = (headers: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: '/login',
        headers: { ...FORM, ...headers },
        payload: formBody({ username: user.username, password: PASSWORD }),
      })
    // Another name of this server than PUBLIC_URL's (http://gatehouse.test).
    const sameHost = await post({ host: 'localhost:3000', origin: 'http://localhost:3000' })
    expect(sameHost.statusCode).toBe(303)
    const otherSite = await post({ host: 'localhost:3000', origin: 'http://evil.example' })
    expect(otherSite.statusCode).toBe(403)
    const crossSite = await post({ 'sec-fetch-site': 'cross-site' })
    expect(crossSite.statusCode).toBe(403)
  })

  it('logout through the API with the cookie (and its token) ends the cookie session', async () => {
    const user = await newUser(app)
    const browser = await browserFor(app, user.username)
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: withCsrf(browser),
      payload: {},
    })
    expect(response.statusCode).toBe(204)
    const after = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expectProblem(after, 401)
  })

  it('signed in already, GET /login goes on to next', async () => {
    const user = await newUser(app)
    const browser = await browserFor(app, user.username)
    const response = await app.inject({
      method: 'GET',
      url: '/login?next=/app/account',
      headers: withCookie(browser),
    })
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe('/app/account')
  })

  it('a form login is audited like an API login, scheme form', async () => {
    const user = await newUser(app)
    await signIn(app, user.username, 'a wrong password for the audit')
    await signIn(app, user.username)
    const admin = await loginAdmin(app)
    const audit = await app.inject({
      method: 'GET',
      url: `/api/v1/audit?actor_id=${user.id}`,
      headers: admin.headers,
    })
    const events = json<{ items: { kind: string; detail: Record<string, string> }[] }>(audit).items
    expect(events.find((e) => e.kind === 'login.failure')?.detail.scheme).toBe('form')
    expect(events.find((e) => e.kind === 'login.success')?.detail.scheme).toBe('form')
  })
})

describe('cookie sessions behind https', async () => {
  const { app } = await buildTestApp({ PUBLIC_URL: 'https://gatehouse.test' })

  it('the session cookie is __Host-gh_session and both cookies are Secure', async () => {
    const user: Session = await newUser(app)
    const response = await signIn(app, user.username)
    const cookies = setCookies(response)
    expect(cookies.get('gh_session')).toBeUndefined()
    expect(cookies.get('__Host-gh_session')).toMatch(/; Secure/i)
    expect(cookies.get('__Host-gh_session')).toMatch(/; Path=\//)
    expect(cookies.get('__Host-gh_session')).not.toMatch(/; Domain=/i)
    expect(cookies.get('gh_csrf')).toMatch(/; Secure/i)
    const browser = await browserFor(app, user.username, '__Host-gh_session')
    const privateAnswer = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expect(privateAnswer.statusCode).toBe(200)
  })
})

describe('the login form counts toward credential guessing (API.md §3)', async () => {
  const { app } = await buildTestApp({ RATE_LIMIT: 'true' })

  it('10 wrong passwords through the form: the 11th try is 429 even with the right password', async () => {
    const user = await newUser(app)
    for (let i = 0; i < 10; i += 1) {
      const response = await signIn(app, user.username, `wrong password number ${i}`)
      expect(response.statusCode).toBe(401)
    }
    const response = await signIn(app, user.username)
    expect(response.statusCode).toBe(429)
    expect(response.headers['retry-after']).toMatch(/^\d+$/)
    expect(response.headers['content-type']).toMatch(/^text\/html/)
    expect(response.headers['set-cookie']).toBeUndefined()
    // The API login of the same account from the same client is held back too: one mechanism.
    const api = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: user.username, password: PASSWORD },
    })
    expect(api.statusCode).toBe(429)
  })
})

describe('a cookie session ends REFRESH_TOKEN_TTL after login', async () => {
  const { app } = await buildTestApp({ REFRESH_TOKEN_TTL: '1' })

  it('an expired cookie session is refused', async () => {
    const user = await newUser(app)
    const browser = await browserFor(app, user.username)
    const before = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expect(before.statusCode).toBe(200)
    await sleep(1100)
    const after = await app.inject({
      method: 'GET',
      url: '/api/v1/private',
      headers: withCookie(browser),
    })
    expectProblem(after, 401)
  })
})
