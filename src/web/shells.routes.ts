import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Caller } from '../core/caller.js'
import { pageDoc } from '../core/docs.js'
import type { UiAssets } from './assets.js'
import { escapeHtml, htmlPage, type NavUser, sendHtml } from './layout.js'

/** What the UI needs of the signed-in user before its first API call (a data attribute). */
export interface ShellUser {
  id: string
  username: string
  name: string
  role: 'admin' | 'user'
}

const NOSCRIPT =
  '<noscript><p class="notice">This page needs JavaScript. Everything it does is also in the <a href="/docs">API</a>.</p></noscript>'

/**
 * The element the UI mounts into: `page` picks the view; `user` and `data` (more data-*
 * attributes) save the UI a round trip before its first render. Empty, not "Loading…": without
 * script the page would say so forever, beside the <noscript> note.
 */
export function mountPoint(
  page: string,
  user?: ShellUser,
  data: Record<string, string> = {},
): string {
  const attributes = Object.entries({
    ...(user === undefined ? {} : { user: JSON.stringify(user) }),
    ...data,
  })
    .map(([key, value]) => ` data-${key}="${escapeHtml(value)}"`)
    .join('')
  return `<div id="app" data-page="${page}"${attributes}></div>
${NOSCRIPT}`
}

function navUser(caller: Caller | null): NavUser | undefined {
  if (caller === null) return undefined
  const { name, role } = caller.principal
  return { name, role, csrfToken: caller.csrfToken }
}

function shellUser(caller: Caller): ShellUser {
  const { id, username, name, role } = caller.principal
  return { id, username, name, role }
}

/**
 * The pages of API.md §8 as server-rendered shells: the header, the `<h1>`, and a mount point
 * the UI's module (ui/, built into /assets) renders into. Everything they show comes from the
 * public API, called from the browser with the session cookie; the shells only decide who may
 * see which page.
 */
export const shellRoutes: FastifyPluginAsync<{
  assets: UiAssets
  passwordMinLength: number
}> = async (app, { assets, passwordMinLength }) => {
  // The forms that set a password say how long it must be (PASSWORD_MIN_LENGTH).
  const passwordRule = { 'password-min': String(passwordMinLength) }
  /** The signed-in caller, or a 303 to the login form that comes back here afterwards. */
  async function signedIn(request: FastifyRequest, reply: FastifyReply): Promise<Caller | null> {
    const caller = await app.pageCaller(request)
    if (caller !== null) return caller
    reply
      .code(303)
      .header('location', `/login?next=${encodeURIComponent(request.url)}`)
      .header('cache-control', 'no-store')
      .send()
    return null
  }

  app.get(
    '/',
    { schema: pageDoc('The home page: what Gatehouse is, and the mailing-list subscribe form') },
    async (request, reply) => {
      const caller = await app.pageCaller(request)
      const start =
        caller === null
          ? '<a class="button" href="/login">Sign in</a> <a class="button secondary" href="/register">Register</a>'
          : '<a class="button" href="/app">Open your todos</a>'
      const body = `<p class="lead">Gatehouse keeps accounts, todos and a mailing list behind one secured REST API: JSON Web Tokens, Basic auth, API keys and, for this web interface, cookie sessions.</p>
<p class="actions">${start} <a class="button secondary" href="/docs">API docs</a></p>
<section aria-labelledby="subscribe-heading" class="card">
<h2 id="subscribe-heading">Mailing list</h2>
<p>Get our news by mail. We send a link to confirm your address first.</p>
${mountPoint('subscribe')}
</section>`
      return sendHtml(
        reply,
        200,
        htmlPage('Gatehouse', body, {
          assets: assets.page('public'),
          user: navUser(caller),
        }),
      )
    },
  )

  app.get('/register', { schema: pageDoc('The registration form') }, async (request, reply) => {
    const caller = await app.pageCaller(request)
    const body = `${mountPoint('register', undefined, passwordRule)}
<p>Already have an account? <a href="/login">Sign in</a>.</p>`
    return sendHtml(
      reply,
      200,
      htmlPage('Create an account', body, {
        assets: assets.page('public'),
        user: navUser(caller),
      }),
    )
  })

  const userPage = (path: string, title: string, page: string) =>
    app.get(
      path,
      { schema: pageDoc(`${title}: signed in (else 303 to /login?next=…)`) },
      async (request, reply) => {
        const caller = await signedIn(request, reply)
        if (caller === null) return reply
        return sendHtml(
          reply,
          200,
          htmlPage(title, mountPoint(page, shellUser(caller), passwordRule), {
            assets: assets.page('app'),
            user: navUser(caller),
            width: 'wide',
          }),
        )
      },
    )
  userPage('/app', 'Todos', 'board')
  userPage('/app/account', 'Your account', 'account')

  app.get(
    '/admin',
    { schema: pageDoc('Users, subscribers and campaigns: admins (else 303 to /login, or 403)') },
    async (request, reply) => {
      const caller = await signedIn(request, reply)
      if (caller === null) return reply
      const user = navUser(caller)
      if (caller.principal.role !== 'admin') {
        return sendHtml(
          reply,
          403,
          htmlPage(
            'Admins only',
            '<p>This page is for administrators. <a href="/app">Back to your todos</a>.</p>',
            { assets: assets.page(), user },
          ),
        )
      }
      return sendHtml(
        reply,
        200,
        htmlPage('Admin', mountPoint('admin', shellUser(caller)), {
          assets: assets.page('admin'),
          user,
          width: 'wide',
        }),
      )
    },
  )
}
