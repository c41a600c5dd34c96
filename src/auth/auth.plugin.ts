import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { clientAddressKey } from '../core/client-address.js'
import { AppError } from '../core/errors.js'
import type { AuthService, Caller, ClientInfo } from './auth.service.js'
import type { IdentityCache, Principal } from './identity-cache.js'
import type { Revocations } from './revocations.js'
import { type AccessTokenIssuer, invalidToken } from './tokens.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling, once an authenticate hook has run; null for anonymous. */
    caller: Caller | null
  }
  interface FastifyInstance {
    /** onRequest hook: a user is required (401 otherwise). */
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /** onRequest hook: identifies the caller if credentials are sent; anonymous is fine. */
    identify(request: FastifyRequest, reply: FastifyReply): Promise<void>
    /** preHandler after `authenticate`: 403 `Admins only` for anyone but an admin. */
    requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void>
  }
}

const unauthenticated = () => new AppError('UNAUTHENTICATED', 'Authentication is required')

const badBasicCredentials = () =>
  new AppError('INVALID_CREDENTIALS', 'Invalid username or password', { challenge: 'basic' })

export function clientInfo(request: FastifyRequest): ClientInfo {
  return {
    ip: request.ip,
    address: clientAddressKey(request.ip),
    userAgent: request.headers['user-agent'],
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })
const LATIN1 = new TextDecoder('latin1')
// No username holds a control character; a NUL would also reach the database, which refuses it
// (PostgreSQL). Passwords may hold anything registration took: argon2 takes any bytes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * `user:password` of a Basic header (RFC 7617): UTF-8, or ISO-8859-1 when the bytes are not
 * UTF-8 (what Python's requests sends); the username NFKC as at registration (the password is
 * normalised where it is checked). Undefined when it cannot be credentials at all.
 */
function basicCredentials(encoded: string): { username: string; password: string } | undefined {
  if (encoded.length > 8192 || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) return undefined
  const bytes = Buffer.from(encoded, 'base64')
  let decoded: string
  try {
    decoded = UTF8.decode(bytes)
  } catch {
    decoded = LATIN1.decode(bytes)
  }
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  const username = decoded.slice(0, colon).normalize('NFKC')
  const password = decoded.slice(colon + 1)
  if (username === '' || CONTROL.test(username)) return undefined
  return { username, password }
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

export interface AuthPluginOptions {
  auth: AuthService
  identities: IdentityCache
  revocations: Revocations
  accessTokens: AccessTokenIssuer
  allowQueryToken: boolean
  /** Origins whose pages may send a browser's ambient credentials: PUBLIC_URL's and CORS_ORIGINS. */
  trustedOrigins: readonly string[]
  /** The per-client request limit, for requests refused here (absent with RATE_LIMIT=false). */
  refusalLimit?: ((request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) | undefined
}

/** The one place that decides who is calling: Bearer/JWT, API key, Basic, or the query token. */
export const authPlugin = fp<AuthPluginOptions>(
  async (app: FastifyInstance, options) => {
    const { auth, identities, revocations, accessTokens } = options

    async function fromToken(
      token: string,
      scheme: 'bearer' | 'query',
      request: FastifyRequest,
    ): Promise<Caller> {
      if (token.startsWith('gh_')) {
        const principal = await auth.principalOfApiKey(token, clientInfo(request))
        if (principal === undefined || principal.disabled)
          throw invalidToken('The API key is invalid or expired')
        return { principal, scheme: 'api_key' }
      }
      const claims = accessTokens.verify(token)
      if (await revocations.isRevoked(claims))
        throw invalidToken('The access token has been revoked')
      // Role and disabled state come from the user now, not from the token.
      const principal = await identities.principal(claims.sub)
      if (principal === undefined || principal.disabled)
        throw invalidToken('The user is no longer active')
      return { principal, scheme, claims }
    }

    async function fromBasic(encoded: string, request: FastifyRequest): Promise<Caller> {
      const credentials = basicCredentials(encoded)
      if (credentials === undefined) throw badBasicCredentials()
      const principal: Principal | undefined = await auth.principalOfBasic(
        credentials.username,
        credentials.password,
        clientInfo(request),
      )
      if (principal === undefined || principal.disabled) throw badBasicCredentials()
      return { principal, scheme: 'basic' }
    }

    const trustedOrigins = new Set(options.trustedOrigins)
    /**
     * A browser attaches Basic credentials it has cached to any request to this site, also one
     * that a page elsewhere makes it send (a form post, a body-less fetch): a cross-site write
     * carrying them is refused, as a cookie-authenticated one is without its CSRF token.
     */
    function refuseCrossSiteWrite(request: FastifyRequest): void {
      if (!UNSAFE_METHODS.has(request.method)) return
      const origin = request.headers.origin
      if (
        request.headers['sec-fetch-site'] === 'cross-site' ||
        (origin !== undefined && !trustedOrigins.has(origin))
      ) {
        throw new AppError(
          'FORBIDDEN',
          'A cross-site request may not write with credentials the browser sent by itself',
        )
      }
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
          return fromBasic(value, request)
        }
        throw unauthenticated()
      }
      if (options.allowQueryToken) {
        const token = (request.query as Record<string, unknown> | undefined)?.access_token
        if (typeof token === 'string' && token !== '') return fromToken(token, 'query', request)
      }
      return null
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

    app.decorate('authenticate', async (request: FastifyRequest, reply: FastifyReply) => {
      const caller = await resolveCounted(request, reply)
      if (caller === null) {
        await options.refusalLimit?.(request, reply)
        throw unauthenticated()
      }
      request.caller = caller
      reply.header('cache-control', 'no-store')
    })

    app.decorate('identify', async (request: FastifyRequest, reply: FastifyReply) => {
      const caller = await resolveCounted(request, reply)
      if (caller !== null) {
        request.caller = caller
        reply.header('cache-control', 'no-store')
      }
    })

    app.decorate('requireAdmin', async (request: FastifyRequest) => {
      if (request.caller === null) throw unauthenticated()
      if (request.caller.principal.role !== 'admin') {
        throw new AppError('ADMINS_ONLY', 'This endpoint is for admins only')
      }
    })
  },
  { name: 'gatehouse-auth' },
)

/** The authenticated caller inside a handler guarded by `authenticate`. */
export function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw unauthenticated()
  return request.caller
}
