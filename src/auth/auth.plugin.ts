import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
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

export const BEARER_CHALLENGE = 'Bearer realm="gatehouse"'
export const BASIC_CHALLENGE = 'Basic realm="gatehouse", charset="UTF-8"'

const unauthenticated = () =>
  new AppError(401, 'UNAUTHENTICATED', 'Unauthorized', 'Authentication is required', {
    headers: { 'www-authenticate': [BEARER_CHALLENGE, BASIC_CHALLENGE] },
  })

const badBasicCredentials = () =>
  new AppError(
    401,
    'INVALID_CREDENTIALS',
    'Invalid username or password',
    'Invalid username or password',
    {
      headers: { 'www-authenticate': BASIC_CHALLENGE },
    },
  )

export function clientInfo(request: FastifyRequest): ClientInfo {
  return { ip: request.ip, userAgent: request.headers['user-agent'] }
}

export interface AuthPluginOptions {
  auth: AuthService
  identities: IdentityCache
  revocations: Revocations
  accessTokens: AccessTokenIssuer
  allowQueryToken: boolean
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

    async function fromBasic(encoded: string): Promise<Caller> {
      const decoded = Buffer.from(encoded, 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      if (colon < 0) throw badBasicCredentials()
      const principal: Principal | undefined = await auth.principalOfBasic(
        decoded.slice(0, colon),
        decoded.slice(colon + 1),
      )
      if (principal === undefined || principal.disabled) throw badBasicCredentials()
      return { principal, scheme: 'basic' }
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
        if (scheme === 'basic' && value !== '') return fromBasic(value)
        throw unauthenticated()
      }
      if (options.allowQueryToken) {
        const token = (request.query as Record<string, unknown> | undefined)?.access_token
        if (typeof token === 'string' && token !== '') return fromToken(token, 'query', request)
      }
      return null
    }

    app.decorateRequest('caller', null)

    app.decorate('authenticate', async (request: FastifyRequest, reply: FastifyReply) => {
      const caller = await resolve(request)
      if (caller === null) throw unauthenticated()
      request.caller = caller
      reply.header('cache-control', 'no-store')
    })

    app.decorate('identify', async (request: FastifyRequest, reply: FastifyReply) => {
      const caller = await resolve(request)
      if (caller !== null) {
        request.caller = caller
        reply.header('cache-control', 'no-store')
      }
    })

    app.decorate('requireAdmin', async (request: FastifyRequest) => {
      if (request.caller === null) throw unauthenticated()
      if (request.caller.principal.role !== 'admin') {
        throw new AppError(403, 'ADMINS_ONLY', 'Admins only', 'This endpoint is for admins only')
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
