import fastifyCookie from '@fastify/cookie'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Caller } from '../core/caller.js'
import { AppError } from '../core/errors.js'
import { describeHook, type HookDocs } from '../core/route-docs.js'
import { type AuthEvents, quietAuthEvents } from './auth-events.js'
import { type Authenticator, isApiKey } from './authenticator.js'
import { badBasicCredentials, basicCredentials } from './basic.js'
import { clientInfo } from './client-info.js'
import type { SessionCookieNames } from './cookie-sessions.js'
import { crossSiteWriteCheck, UNSAFE_METHODS } from './cross-site.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: a user is required (401 otherwise). */
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /** onRequest hook: identifies the caller if credentials are sent; anonymous is fine. */
    identify(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /** preHandler after `authenticate`: 403 `Admins only` for anyone but an admin. */
    requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /**
     * For the web UI's pages: the caller of the session cookie, or null (none, ended, expired,
     * the user disabled). Never throws for a bad cookie: that visitor is signed out.
     */
    pageCaller(request: FastifyRequest): Promise<Caller | null>
  }
}

const unauthenticated = () => new AppError('UNAUTHENTICATED', 'Authentication is required')

// What the hooks below answer, for the OpenAPI document of the routes that run them. A browser
// sends its cookies, and Basic credentials it has cached, with a write another site makes it
// send (cross-site.ts): 403, as is a write with the session cookie but without its CSRF token.
const CROSS_SITE_WRITE = {
  403: 'A cross-site write carrying credentials the browser sent by itself (a cookie, Basic), or a write with the session cookie but without its CSRF token',
}
const AUTHENTICATE: HookDocs = {
  credentials: 'required',
  problems: { 401: 'No credentials, or credentials that are invalid, expired or revoked' },
  writeProblems: CROSS_SITE_WRITE,
}
const IDENTIFY: HookDocs = {
  credentials: 'optional',
  problems: { 401: 'Credentials were sent and are invalid, expired or revoked' },
  writeProblems: CROSS_SITE_WRITE,
}
const REQUIRE_ADMIN: HookDocs = { problems: { 403: 'Admins only' } }

export interface AuthPluginOptions {
  authenticator: Authenticator
  allowQueryToken: boolean
  /** Origins whose pages may send a browser's ambient credentials: PUBLIC_URL's and CORS_ORIGINS. */
  trustedOrigins: readonly string[]
  /** The web UI's cookies (`sessionCookieNames`). */
  cookies: SessionCookieNames
  /** The per-client request limit, for requests refused here (absent with RATE_LIMIT=false). */
  refusalLimit?: ((request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) | undefined
  /** Refusals counted here (no credentials, a header that is none); the rest where they happen. */
  events?: AuthEvents | undefined
}

/**
 * The one place that decides who is calling: Bearer/JWT, API key, Basic, the query token, or the
 * web UI's session cookie.
 */
export const authPlugin = fp<AuthPluginOptions>(
  async (app: FastifyInstance, options) => {
    const { authenticator, cookies } = options
    const events = options.events ?? quietAuthEvents
    const refuseCrossSiteWrite = crossSiteWriteCheck(options.trustedOrigins)
    // Parses the Cookie header once per request (request.cookies) and gives reply.setCookie.
    await app.register(fastifyCookie)

    /**
     * A browser sends the session cookie with any request to this site, also one another site
     * makes it send: a write needs the CSRF token too (the gh_csrf cookie, which only a page of
     * this site can read), and is refused from another site even with it (API.md §3).
     */
    function checkCookieWrite(request: FastifyRequest, caller: Caller): void {
      if (!UNSAFE_METHODS.has(request.method)) return
      refuseCrossSiteWrite(request)
      const token = request.headers['x-csrf-token']
      if (typeof token !== 'string' || !authenticator.csrfTokenMatches(caller, token)) {
        throw new AppError(
          'CSRF_FAILED',
          'A write with the session cookie needs its CSRF token (the gh_csrf cookie) as the X-CSRF-Token header',
        )
      }
    }

    const cookieCaller = async (request: FastifyRequest): Promise<Caller | null> => {
      const cookie = request.cookies[cookies.session]
      if (cookie === undefined || cookie === '') return null
      return (await authenticator.cookie(cookie)) ?? null
    }

    function fromToken(
      token: string,
      scheme: 'bearer' | 'query',
      request: FastifyRequest,
    ): Promise<Caller> {
      return isApiKey(token)
        ? authenticator.apiKey(token, clientInfo(request))
        : authenticator.accessToken(token, scheme)
    }

    async function resolve(request: FastifyRequest): Promise<Caller | null> {
      const header = request.headers.authorization
      if (header !== undefined && header !== '') {
        const space = header.indexOf(' ')
        const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase()
        const value = space < 0 ? '' : header.slice(space + 1).trim()
        // `JWT <token>` is what Flask-JWT clients send.
        if ((scheme === 'bearer' || scheme === 'jwt') && value !== '')
          return fromToken(value, 'bearer', request)
        if (scheme === 'basic' && value !== '') {
          refuseCrossSiteWrite(request)
          const credentials = basicCredentials(value)
          if (credentials === undefined) {
            events.refused('basic', 'malformed')
            throw badBasicCredentials()
          }
          return authenticator.basic(
            credentials.username,
            credentials.password,
            clientInfo(request),
          )
        }
        events.refused('none', 'malformed')
        throw unauthenticated()
      }
      if (options.allowQueryToken) {
        const token = (request.query as Record<string, unknown> | undefined)?.access_token
        if (typeof token === 'string' && token !== '') return fromToken(token, 'query', request)
      }
      // Cookies count only without an Authorization header (API.md §3).
      const caller = await cookieCaller(request)
      if (caller !== null) checkCookieWrite(request, caller)
      return caller
    }

    app.decorateRequest('caller', null)

    /**
     * Refused credentials never reach the request limit, which runs after authentication (so a
     * user is counted as themselves): count the refusal against the client here, so guessing
     * tokens or API keys is limited like everything else.
     */
    async function resolveCounted(
      request: FastifyRequest,
      reply: FastifyReply,
    ): Promise<Caller | null> {
      try {
        return await resolve(request)
      } catch (error) {
        await options.refusalLimit?.(request, reply)
        throw error
      }
    }

    async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const caller = await resolveCounted(request, reply)
      if (caller === null) {
        events.refused('none', 'missing')
        await options.refusalLimit?.(request, reply)
        throw unauthenticated()
      }
      request.caller = caller
      reply.header('cache-control', 'no-store')
    }

    async function identify(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const caller = await resolveCounted(request, reply)
      if (caller !== null) {
        request.caller = caller
        reply.header('cache-control', 'no-store')
      }
    }

    async function requireAdmin(request: FastifyRequest): Promise<void> {
      if (request.caller === null) throw unauthenticated()
      if (request.caller.principal.role !== 'admin') {
        throw new AppError('ADMINS_ONLY', 'This endpoint is for admins only')
      }
    }

    app.decorate('authenticate', describeHook(authenticate, AUTHENTICATE))
    app.decorate('identify', describeHook(identify, IDENTIFY))
    app.decorate('requireAdmin', describeHook(requireAdmin, REQUIRE_ADMIN))
    app.decorate('pageCaller', cookieCaller)
  },
  { name: 'gatehouse-auth' },
)
