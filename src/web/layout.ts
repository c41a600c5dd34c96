import type { FastifyReply } from 'fastify'
import type { PageAssets } from './assets.js'

/**
 * Every page's Content-Security-Policy (API.md §8): only this origin's own scripts, styles,
 * images and API; no inline script or style (the UI's one stylesheet and its modules come from
 * /assets); forms post only here; never framed; no <base> to redirect relative URLs.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  )
}

/** Who the header's navigation is for: nobody signed in, or a user (with their CSRF token). */
export interface NavUser {
  readonly name: string
  readonly role: 'admin' | 'user'
  /** For the sign-out form's `_csrf` field; without it the form cannot work, so none is shown. */
  readonly csrfToken: string | undefined
}

export interface PageOptions {
  /** The stylesheet and script the page links (`UiAssets.page(entry)`); none by default. */
  readonly assets?: PageAssets | undefined
  /** The signed-in user the header is for; absent: links to sign in and register. */
  readonly user?: NavUser | undefined
  /** The `<main>`'s class, for a narrow form page (`narrow`) or the wide app. */
  readonly width?: 'narrow' | 'wide' | undefined
}

function navigation(user: NavUser | undefined): string {
  if (user === undefined) {
    return `<ul>
<li><a href="/login">Sign in</a></li>
<li><a href="/register">Register</a></li>
<li><a href="/docs">API docs</a></li>
</ul>`
  }
  const admin = user.role === 'admin' ? '\n<li><a href="/admin">Admin</a></li>' : ''
  const signOut =
    user.csrfToken === undefined
      ? ''
      : `\n<li><form method="post" action="/logout"><input type="hidden" name="_csrf" value="${escapeHtml(user.csrfToken)}"><button type="submit" class="link">Sign out</button></form></li>`
  return `<ul>
<li><a href="/app">Todos</a></li>
<li><a href="/app/account">Account</a></li>${admin}
<li><a href="/docs">API docs</a></li>${signOut}
</ul>`
}

/**
 * One HTML page: its `<title>`, the header, and `<main>` with the one `<h1>` and `body`
 * (already escaped HTML). With `assets`, the UI's stylesheet and module script; never inline
 * script or style (PAGE_CSP forbids both).
 */
export function htmlPage(title: string, body: string, options: PageOptions = {}): string {
  const { assets, user } = options
  const head = [
    assets?.stylesheet === undefined
      ? ''
      : `<link rel="stylesheet" href="${escapeHtml(assets.stylesheet)}">`,
    ...(assets?.script === undefined ? [] : assets.preload).map(
      (href) => `<link rel="modulepreload" href="${escapeHtml(href)}">`,
    ),
    assets?.script === undefined
      ? ''
      : `<script type="module" src="${escapeHtml(assets.script)}"></script>`,
  ]
    .filter((line) => line !== '')
    .join('\n')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title === 'Gatehouse' ? title : `${escapeHtml(title)} · Gatehouse`}</title>
<link rel="icon" href="data:,">
${head}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="site">
<nav aria-label="Main">
<a class="brand" href="/">Gatehouse</a>
${navigation(user)}
</nav>
</header>
<main id="main" class="${options.width ?? 'narrow'}">
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`
}

export function sendHtml(reply: FastifyReply, status: number, html: string): FastifyReply {
  return (
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      .header('content-security-policy', PAGE_CSP)
      // For browsers that predate frame-ancestors.
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'no-store')
      .send(html)
  )
}
