import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { ADMIN, buildTestApp, PASSWORD, UI_ASSETS } from '../../test/helpers.js'

/** The pages of API.md §8 that anyone can open (the others redirect until signed in). */
const PUBLIC_PAGES = [
  '/',
  '/register',
  '/login',
  '/login?next=/app&notice=registered',
  '/subscribe/confirm?token=x',
  '/unsubscribe?token=x',
]
const SIGNED_IN_PAGES = ['/app', '/app/account', '/admin']

function directives(response: LightMyRequestResponse): Map<string, string> {
  const policy = String(response.headers['content-security-policy'] ?? '')
  const parsed = new Map<string, string>()
  for (const directive of policy.split(';').map((d) => d.trim())) {
    if (directive === '') continue
    const [name = '', ...values] = directive.split(/\s+/)
    // Browsers obey the first of repeated directives: a second one is a mistake.
    expect(parsed.has(name), `${name} repeated`).toBe(false)
    parsed.set(name, values.join(' '))
  }
  return parsed
}

/** What API.md §8 asks of every page: the CSP, no inline script or style, one h1, a title. */
function expectSafePage(response: LightMyRequestResponse): void {
  expect(response.headers['content-type']).toMatch(/^text\/html; charset=utf-8/)
  const csp = directives(response)
  expect(csp.get('frame-ancestors')).toBe("'none'")
  expect(csp.get('default-src')).toBe("'none'")
  expect(csp.get('script-src')).toBe("'self'")
  expect(csp.get('style-src')).toBe("'self'")
  expect(csp.get('base-uri')).toBe("'none'")
  expect(response.headers['x-frame-options']).toBe('DENY')
  // Every response's (src/core/http.ts): with no-referrer a browser sends `Origin: null` on the
  // page's own posts, refused as cross-site.
  expect(response.headers['referrer-policy']).toBe('same-origin')
  const html = response.body
  expect(html.match(/<h1[\s>]/g)).toHaveLength(1)
  expect(html).toMatch(/<title>[^<]+<\/title>/)
  // Every script has a src on this origin; no inline script, handler or style.
  for (const tag of html.match(/<script\b[^>]*>/g) ?? []) {
    expect(tag).toMatch(/ src="\/assets\/[^"]+\.js"/)
  }
  expect(html).not.toMatch(/<script\b[^>]*>[^<]/)
  expect(html).not.toMatch(/<style\b| style=| on[a-z]+=/i)
  expect(html).not.toMatch(/(src|href)="(https?:)?\/\//)
}

function assetUrls(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((match) => match[1] ?? '')
}

async function page(app: FastifyInstance, url: string, cookie?: string) {
  return app.inject({ url, headers: cookie === undefined ? {} : { cookie } })
}

/** Signs in through the login form as a browser does: the Cookie header it sends afterwards. */
async function signIn(app: FastifyInstance, username: string, password: string) {
  const response = await app.inject({
    method: 'POST',
    url: '/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ username, password }).toString(),
  })
  expect(response.statusCode, response.body).toBe(303)
  const cookies = response.cookies.map((c) => `${c.name}=${c.value}`)
  const csrf = response.cookies.find((c) => c.name === 'gh_csrf')?.value ?? ''
  return { cookie: cookies.join('; '), csrf }
}

async function register(app: FastifyInstance, username: string, name: string) {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: { username, password: PASSWORD, name },
  })
  expect(response.statusCode, response.body).toBe(201)
  return signIn(app, username, PASSWORD)
}

describe('the web pages', async () => {
  const { app } = await buildTestApp()

  it.each(PUBLIC_PAGES)('%s has the CSP, one h1, a title and no inline script', async (url) => {
    const response = await page(app, url)
    expect(response.statusCode).toBe(200)
    expectSafePage(response)
    expect(response.headers['cache-control']).toBe('no-store')
  })

  it('/ and /register link the stylesheet and one module script from /assets', async () => {
    for (const url of ['/', '/register']) {
      const html = (await page(app, url)).body
      expect(
        html.match(/<link rel="stylesheet" href="\/assets\/styles-[^"]+\.css">/g),
      ).toHaveLength(1)
      expect(
        html.match(/<script type="module" src="\/assets\/public-[^"]+\.js"><\/script>/g),
      ).toHaveLength(1)
      expect(html).toContain('<div id="app" data-page=')
      expect(html).toContain('<noscript>')
      expect(html).toContain('<nav aria-label="Main">')
    }
  })

  it('/ links to sign in, register and the API docs', async () => {
    const html = (await page(app, '/')).body
    for (const href of ['/login', '/register', '/docs']) expect(html).toContain(`href="${href}"`)
    expect(html).toContain('data-page="subscribe"')
  })

  it('the mail-link pages are styled by the same stylesheet and work without script', async () => {
    const html = (await page(app, '/unsubscribe?token=abc')).body
    expect(html).toMatch(/<link rel="stylesheet" href="\/assets\/styles-/)
    expect(html).not.toContain('<script')
    expect(html).toContain('<form method="post" action="/unsubscribe?token=abc">')
  })

  it.each(SIGNED_IN_PAGES)('%s sends a signed-out visitor to the login form (303)', async (url) => {
    const response = await page(app, `${url}?view=x&y=1`)
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe(`/login?next=${encodeURIComponent(`${url}?view=x&y=1`)}`)
    expect(response.body).toBe('')
  })
})

describe('the pages of a signed-in user', async () => {
  const { app } = await buildTestApp()
  const name = '<script>alert("name")</script> & co'
  const user = await register(app, `pages${process.pid}`, name)
  const admin = await signIn(app, ADMIN.username, ADMIN.password)

  it.each(['/app', '/app/account'])('%s is the app shell, with the user as text', async (url) => {
    const response = await page(app, url, user.cookie)
    expect(response.statusCode).toBe(200)
    expectSafePage(response)
    expect(response.headers['cache-control']).toBe('no-store')
    expect(response.body).toMatch(/<script type="module" src="\/assets\/app-[^"]+\.js"><\/script>/)
    // The stored name reaches the page only escaped, inside an attribute.
    expect(response.body).not.toContain('<script>alert')
    expect(response.body).toContain(
      '&lt;script&gt;alert(\\&quot;name\\&quot;)&lt;/script&gt; &amp; co',
    )
    expect(response.body).not.toContain('href="/admin"')
  })

  it("the header signs out through a form carrying the session's CSRF token", async () => {
    const html = (await page(app, '/app', user.cookie)).body
    const token = /name="_csrf" value="([^"]+)"/.exec(html)?.[1]
    expect(token).toBe(user.csrf)
    expect(html).toContain('<form method="post" action="/logout">')
    const other = await signIn(app, `pages${process.pid}`, PASSWORD)
    const out = await app.inject({
      method: 'POST',
      url: '/logout',
      headers: { cookie: other.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ _csrf: other.csrf }).toString(),
    })
    expect(out.statusCode).toBe(303)
    expect((await page(app, '/app', other.cookie)).statusCode).toBe(303)
  })

  it('/admin is a 403 page for a user who is not an admin', async () => {
    const response = await page(app, '/admin', user.cookie)
    expect(response.statusCode).toBe(403)
    expectSafePage(response)
    expect(response.body).toContain('<h1>Admins only</h1>')
    expect(response.body).not.toContain('data-page="admin"')
    expect(response.body).not.toContain('/assets/admin-')
  })

  it('/admin is the admin console for an admin, who also gets the Admin link', async () => {
    const response = await page(app, '/admin', admin.cookie)
    expect(response.statusCode).toBe(200)
    expectSafePage(response)
    expect(response.body).toContain('data-page="admin"')
    expect(response.body).toMatch(/src="\/assets\/admin-[^"]+\.js"/)
    expect(response.body).toContain('href="/admin"')
  })

  it('a Bearer token does not open a page: pages go by the session cookie only', async () => {
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: ADMIN.username, password: ADMIN.password },
    })
    const token = (login.json() as { access_token: string }).access_token
    const response = await app.inject({
      url: '/app',
      headers: { authorization: `Bearer ${token}` },
    })
    expect(response.statusCode).toBe(303)
  })
})

describe('/assets', async () => {
  const { app } = await buildTestApp()
  const manifest = JSON.parse(readFileSync(path.join(UI_ASSETS, 'manifest.json'), 'utf8')) as {
    files: Record<string, string>
  }
  const script = `/assets/${manifest.files['app.js']}`
  const raw = readFileSync(path.join(UI_ASSETS, manifest.files['app.js'] ?? ''))

  it('serves every file a page links, cached for a year as immutable', async () => {
    const urls = assetUrls((await page(app, '/')).body)
    expect(urls.length).toBeGreaterThanOrEqual(2)
    for (const url of urls) {
      const response = await app.inject({ url })
      expect(response.statusCode, url).toBe(200)
      expect(response.headers['cache-control']).toBe('public, max-age=31536000, immutable')
      expect(response.headers['content-type']).toMatch(/^(text\/javascript|text\/css)/)
    }
  })

  it('sends the precompressed br or gzip file the client accepts, else the plain one', async () => {
    const cases: [string | undefined, string | undefined][] = [
      ['gzip, deflate, br, zstd', 'br'],
      ['gzip', 'gzip'],
      ['br;q=0, gzip;q=0.5', 'gzip'],
      ['gzip;q=0.2, br;q=0.9', 'br'],
      ['identity', undefined],
      ['*', 'br'],
      [undefined, undefined],
    ]
    for (const [accept, encoding] of cases) {
      const response = await app.inject({
        url: script,
        headers: accept === undefined ? {} : { 'accept-encoding': accept },
      })
      expect(response.statusCode).toBe(200)
      expect(response.headers['content-encoding'], String(accept)).toBe(encoding)
      expect(response.headers.vary).toContain('accept-encoding')
      const suffix = encoding === 'br' ? '.br' : encoding === 'gzip' ? '.gz' : ''
      const expected =
        suffix === ''
          ? raw
          : readFileSync(path.join(UI_ASSETS, `${manifest.files['app.js']}${suffix}`))
      expect(response.rawPayload.equals(expected), String(accept)).toBe(true)
    }
  })

  it('answers 404 for a file the build did not write, and never reads outside it', async () => {
    for (const url of [
      '/assets/nothing-ABCDEFGH.js',
      '/assets/manifest.json',
      `${script}.br`,
      '/assets/..%2Fgatehouse.js',
      '/assets/..%2F..%2Fpackage.json',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/assets/../../package.json',
      '/assets/',
    ]) {
      const response = await app.inject({ url })
      expect(response.statusCode, url).toBe(404)
      expect(String(response.headers['cache-control']), url).not.toContain('immutable')
    }
  })
})

describe('without a usable UI build', async () => {
  const broken = mkdtempSync(path.join(tmpdir(), 'gatehouse-ui-'))
  writeFileSync(path.join(broken, 'manifest.json'), '{"files":')
  writeFileSync(path.join(broken, 'app-ABC.js'), 'export {}')
  afterAll(() => rmSync(broken, { recursive: true, force: true }))

  const apps = {
    missing: (await buildTestApp({}, { uiAssets: '/nonexistent/gatehouse-ui' })).app,
    'with a broken manifest': (await buildTestApp({}, { uiAssets: broken })).app,
  }

  it.each(Object.entries(apps))(
    '(%s) the pages still render, without script or stylesheet',
    async (_case, app) => {
      const response = await page(app, '/')
      expect(response.statusCode).toBe(200)
      expectSafePage(response)
      expect(response.body).not.toContain('<script')
      expect(response.body).not.toContain('rel="stylesheet"')
      expect((await app.inject({ url: '/assets/app-ABC.js' })).statusCode).toBe(404)
    },
  )
})
