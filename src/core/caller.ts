import type { FastifyRequest } from 'fastify'
import { AppError } from './errors.js'

export type Role = 'admin' | 'user'

/** What a request needs of its user: read on every authenticated request, so kept small. */
export interface Principal {
  readonly id: string
  readonly username: string
  readonly name: string
  readonly role: Role
  readonly disabled: boolean
  readonly passwordChangedAt: string
  /** Two-factor login is on: Basic credentials are refused (API.md §10). */
  readonly mfaEnabled: boolean
}

/** The claims of an access token we issued and verified. */
export interface AccessClaims {
  sub: string
  /** The session (refresh family) the token was minted for. */
  sid: string
  jti: string
  role: Role
  iat: number
  nbf: number
  exp: number
}

/** How the caller proved who they are; the auth plugin fills it in. */
export interface Caller {
  readonly principal: Principal
  readonly scheme: 'bearer' | 'basic' | 'api_key' | 'cookie' | 'query'
  /** Present for access tokens. */
  readonly claims?: AccessClaims
  /** The session the credential belongs to (an access token's `sid`, a session cookie's). */
  readonly sessionId?: string
  /** A cookie session's CSRF token: what its forms send back as `_csrf`. */
  readonly csrfToken?: string
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling, once an authenticate hook has run; null for anonymous. */
    caller: Caller | null
  }
}

/** The authenticated caller inside a handler guarded by `authenticate`. */
export function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw new AppError('UNAUTHENTICATED', 'Authentication is required')
  return request.caller
}
