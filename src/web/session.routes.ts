import formBody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { clientInfo } from '../auth/client-info.js'
import type { CookieSessions, SessionCookieNames } from '../auth/cookie-sessions.js'
import { crossSiteWriteCheck } from '../auth/cross-site.js'
import {
  type CookieSession,
  MFA_TOKEN_TTL,
  type SessionsService,
} from '../auth/sessions.service.js'
import type { Caller } from '../core/caller.js'
import { pageDoc } from '../core/docs.js'
import { AppError } from '../core/errors.js'
import type { MfaService } from '../mfa/mfa.service.js'
import type { UiAssets } from './assets.js'
import { escapeHtml, htmlPage, type PageOptions, sendHtml } from './layout.js'

/** Where a sign-in lands when `next` is missing or not a path on this site. */
const DEFAULT_NEXT = '/app'

/**
 * `next` as a path on this site, else `/app`: never another origin, whatever the spelling
 * (`//evil.example`, `/\evil.example`, `https://evil.example`, tabs or newlines inside).
 */
export function safeNext(next: string | undefined): string {
  if (next === undefined || !next.startsWith('/')) return DEFAULT_NEXT
  const base = 'http://gatehouse.invalid'
  let url: URL
  try {
    url = new URL(next, base)
  } catch {
    return DEFAULT_NEXT
  }
  // The URL parser reads `/\x` and `//x` as another host, and drops tabs and newlines as a
  // browser would: what it resolves to is what the browser would open.
  if (url.origin !== base) return DEFAULT_NEXT
  return `${url.pathname}${url.search}${url.hash}`
}

/** Messages a link to the login page may ask for, by key: never text from the URL. */
const NOTICES: Record<string, string> = {
  registered: 'Your account is ready: sign in.',
  'signed-out': 'You are signed out.',
}

function loginForm(
  options: {
    next: string
    username?: string
    error?: string
    notice?: string | undefined
  },
  page: PageOptions,
): string {
  const { next, username = '', error, notice } = options
  const message =
    error === undefined
      ? notice === undefined
        ? ''
        : `<p class="alert success" role="status">${escapeHtml(notice)}</p>`
      : `<p class="alert error" role="alert" id="login-error">${escapeHtml(error)}</p>`
  const described = error === undefined ? '' : ' aria-describedby="login-error"'
  return htmlPage(
    'Sign in',
    `${message}
<form method="post" action="/login" class="form">
<input type="hidden" name="next" value="${escapeHtml(next)}">
<div class="field"><label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required maxlength="64" autocapitalize="none" spellcheck="false" value="${escapeHtml(username)}"${described}${username === '' ? ' autofocus' : ''}></div>
<div class="field"><label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"${described}${username === '' ? '' : ' autofocus'}></div>
<p><button type="submit">Sign in</button></p>
</form>
<p><a href="/reset-password">Forgot your password?</a> · No account yet? <a href="/register">Register</a>.</p>`,
    page,
  )
}

/** The code step of a sign-in with two-factor on; the `mfa_token` rides in an HttpOnly cookie. */
function codeForm(options: { next: string; error?: string }, page: PageOptions): string {
  const { next, error } = options
  const message =
    error === undefined
      ? '<p>Two-factor login is on for this account. Enter the 6-digit code your authenticator app shows, or one of your recovery codes.</p>'
      : `<p class="alert error" role="alert" id="code-error">${escapeHtml(error)}</p>`
  const described = error === undefined ? '' : ' aria-describedby="code-error"'
  return htmlPage(
    'Enter your code',
    `${message}
<form method="post" action="/login/mfa" class="form">
<input type="hidden" name="next" value="${escapeHtml(next)}">
<div class="field"><label for="code">Code</label>
<input id="code" name="code" autocomplete="one-time-code" required maxlength="32" autocapitalize="none" spellcheck="false" autofocus${described}></div>
<p><button type="submit">Sign in</button></p>
</form>
<p><a href="/login">Start again</a></p>`,
    page,
  )
}

// Fields are checked here, not by a schema, so a bad form gets the form back, not JSON.
const LoginForm = Type.Object(
  {
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    next: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
)
const LogoutForm = Type.Object(
  { _csrf: Type.Optional(Type.String()) },
  { additionalProperties: true },
)
const CodeForm = Type.Object(
  { code: Type.Optional(Type.String()), next: Type.Optional(Type.String()) },
  { additionalProperties: true },
)
const CodeQuery = Type.Object({ next: Type.Optional(Type.String({ maxLength: 2048 })) })
const LoginQuery = Type.Object({
  next: Type.Optional(Type.String({ maxLength: 2048 })),
  notice: Type.Optional(Type.String({ maxLength: 32 })),
})

/**
 * The web UI's sign-in and sign-out (API.md §3 "Cookie sessions"): a plain HTML form that works
 * without JavaScript, as the tutorial's did. The password is checked by the same code, under the
 * same credential-guessing limits, as `POST /api/v1/auth/login`.
 */
export const sessionPagesRoutes: FastifyPluginAsyncTypebox<{
  sessions: SessionsService
  /** The code step of a sign-in with two-factor on. */
  mfa: Pick<MfaService, 'cookieLogin'>
  cookieSessions: CookieSessions
  cookies: SessionCookieNames
  /** PUBLIC_URL's origin and CORS_ORIGINS: forms from anywhere else are refused. */
  trustedOrigins: readonly string[]
  /** The UI's stylesheet; these pages need no script. */
  assets: UiAssets
}> = async (app, { sessions, mfa, cookieSessions, cookies, trustedOrigins, assets }) => {
  const page: PageOptions = { assets: assets.page() }
  // A password of 1024 characters of 4 UTF-8 bytes, percent-encoded, fits.
  await app.register(formBody, { bodyLimit: 16_384 })
  const refuseCrossSite = crossSiteWriteCheck(trustedOrigins)
  const refuseCrossSiteSignIn = crossSiteWriteCheck(trustedOrigins, { ownOrigin: true })

  const setSessionCookies = (reply: FastifyReply, cookie: string, csrf: string, maxAge: number) => {
    const common = { path: '/', secure: cookies.secure, maxAge }
    reply.setCookie(cookies.session, cookie, { ...common, httpOnly: true, sameSite: 'lax' })
    // Read by the pages' script to send as X-CSRF-Token: not HttpOnly, never sent cross-site.
    reply.setCookie(cookies.csrf, csrf, { ...common, httpOnly: false, sameSite: 'strict' })
  }
  const signedIn = (reply: FastifyReply, started: CookieSession, next: string) => {
    const maxAge = Math.max(0, Math.round((Date.parse(started.expiresAt) - Date.now()) / 1000))
    setSessionCookies(reply, started.cookie, cookieSessions.csrfTokenOf(started.sessionId), maxAge)
    return reply.header('cache-control', 'no-store').redirect(next, 303)
  }
  // The `mfa_token` between the password and the code: HttpOnly (no script reads it), Strict
  // (no other site's form sends it, so nobody can sign a visitor into their own account), and
  // only for the code page.
  const MFA_COOKIE = 'gh_mfa'
  const mfaCookie = { path: '/login/mfa', secure: cookies.secure, httpOnly: true } as const
  /** Answers of the form pages: the error's headers (Retry-After) kept. */
  const copyHeaders = (reply: FastifyReply, error: AppError) => {
    for (const [name, value] of Object.entries(error.extra.headers ?? {})) {
      reply.header(name, value)
    }
  }
  // "You are signed out" on the login page after a sign-out, which answers 303 to `/login`
  // itself: a cookie for that page alone, read once.
  const NOTICE_COOKIE = 'gh_notice'
  const noticeCookie = { path: '/login', secure: cookies.secure, httpOnly: true } as const
  const clearSessionCookies = (reply: FastifyReply) => {
    reply.clearCookie(cookies.session, { path: '/', secure: cookies.secure, httpOnly: true })
    reply.clearCookie(cookies.csrf, { path: '/', secure: cookies.secure })
  }
  /** A form another site made the browser send (login CSRF, forced logout): refused. */
  const fromAnotherSite = (request: FastifyRequest, check = refuseCrossSite): boolean => {
    try {
      check(request)
      return false
    } catch {
      return true
    }
  }
  const crossSitePage = (reply: FastifyReply) =>
    sendHtml(
      reply,
      403,
      htmlPage(
        'Forbidden',
        '<p>This form was sent from another site. Open <a href="/login">the sign-in page</a> and try again.</p>',
        page,
      ),
    )

  app.get(
    '/login',
    {
      schema: {
        ...pageDoc('The sign-in form; works without JavaScript'),
        querystring: LoginQuery,
      },
    },
    async (request, reply) => {
      const next = safeNext(request.query.next)
      // Signed in already: on to where the visitor was going.
      if ((await app.pageCaller(request)) !== null) return reply.redirect(next, 303)
      const noticeKey = request.query.notice ?? request.cookies[NOTICE_COOKIE]
      if (request.cookies[NOTICE_COOKIE] !== undefined)
        reply.clearCookie(NOTICE_COOKIE, noticeCookie)
      const notice = NOTICES[noticeKey ?? '']
      return sendHtml(reply, 200, loginForm({ next, notice }, page))
    },
  )

  app.post(
    '/login',
    {
      schema: {
        ...pageDoc(
          'Sign in: 303 to `next` with the session cookies, or the form again with one message',
        ),
        body: LoginForm,
      },
    },
    async (request, reply) => {
      if (fromAnotherSite(request, refuseCrossSiteSignIn)) return crossSitePage(reply)
      const { username = '', password = '' } = request.body
      const next = safeNext(request.body.next)
      const again = (status: number, error: string) =>
        sendHtml(reply, status, loginForm({ next, username: username.slice(0, 64), error }, page))
      if (username === '' || password === '') {
        return again(400, 'Enter your username and password.')
      }
      if (username.length > 64 || password.length > 1024) {
        return again(400, 'Invalid username or password')
      }
      try {
        const started = await sessions.startCookieSession(
          { username, password },
          clientInfo(request),
        )
        if ('mfaToken' in started) {
          reply.setCookie(MFA_COOKIE, started.mfaToken, {
            ...mfaCookie,
            sameSite: 'strict',
            maxAge: MFA_TOKEN_TTL,
          })
          const to = `/login/mfa${next === DEFAULT_NEXT ? '' : `?next=${encodeURIComponent(next)}`}`
          return reply.header('cache-control', 'no-store').redirect(to, 303)
        }
        return signedIn(reply, started, next)
      } catch (error) {
        // Wrong credentials, 429 and a full password queue (503) get the form back; faults do not.
        if (!(error instanceof AppError) || (error.status >= 500 && error.status !== 503))
          throw error
        copyHeaders(reply, error)
        if (error.code === 'INVALID_CREDENTIALS') {
          // A 401 names a scheme (RFC 9110 §15.5.2); this one is a form, so no browser dialog.
          reply.header('www-authenticate', 'Form realm="gatehouse"')
          return again(401, 'Invalid username or password')
        }
        return again(error.status, error.detail)
      }
    },
  )

  app.get(
    '/login/mfa',
    {
      schema: {
        ...pageDoc('The two-factor code form, after the password'),
        querystring: CodeQuery,
      },
    },
    async (request, reply) => {
      const next = safeNext(request.query.next)
      if ((await app.pageCaller(request)) !== null) return reply.redirect(next, 303)
      // No password step behind this visit: begin there.
      if (!request.cookies[MFA_COOKIE]) return reply.redirect('/login', 303)
      return sendHtml(reply, 200, codeForm({ next }, page))
    },
  )

  app.post(
    '/login/mfa',
    {
      schema: {
        ...pageDoc('The two-factor code: 303 to `next` with the session cookies'),
        body: CodeForm,
      },
    },
    async (request, reply) => {
      if (fromAnotherSite(request, refuseCrossSiteSignIn)) return crossSitePage(reply)
      const next = safeNext(request.body.next)
      const mfaToken = request.cookies[MFA_COOKIE]
      if (!mfaToken) return reply.redirect('/login', 303)
      const code = request.body.code ?? ''
      if (code.length < 6 || code.length > 32) {
        return sendHtml(reply, 400, codeForm({ next, error: 'Enter the 6-digit code.' }, page))
      }
      try {
        const started = await mfa.cookieLogin(mfaToken, code, clientInfo(request))
        reply.clearCookie(MFA_COOKIE, mfaCookie)
        return signedIn(reply, started, next)
      } catch (error) {
        if (!(error instanceof AppError) || (error.status >= 500 && error.status !== 503))
          throw error
        copyHeaders(reply, error)
        if (error.code === 'MFA_LOGIN_FAILED')
          reply.header('www-authenticate', 'Form realm="gatehouse"')
        return sendHtml(reply, error.status, codeForm({ next, error: error.detail }, page))
      }
    },
  )

  app.post(
    '/logout',
    {
      schema: {
        ...pageDoc('Sign out: 303 to /login, both cookies cleared; 403 without the CSRF token'),
        body: Type.Optional(LogoutForm),
      },
    },
    async (request, reply) => {
      const caller: Caller | null = await app.pageCaller(request)
      if (caller !== null) {
        const token = request.body?._csrf ?? request.headers['x-csrf-token']
        if (
          fromAnotherSite(request) ||
          typeof token !== 'string' ||
          !cookieSessions.csrfTokenMatches(caller, token)
        ) {
          return sendHtml(
            reply,
            403,
            htmlPage(
              'Forbidden',
              '<p>CSRF token missing or invalid: this sign-out did not come from a page of this site. You are still signed in.</p><p><a href="/app">Back to your todos</a></p>',
              page,
            ),
          )
        }
        await sessions.logout(caller, undefined)
      }
      clearSessionCookies(reply)
      reply.setCookie(NOTICE_COOKIE, 'signed-out', { ...noticeCookie, sameSite: 'lax', maxAge: 60 })
      return reply.header('cache-control', 'no-store').redirect('/login', 303)
    },
  )
}
