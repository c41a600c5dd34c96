import type { Caller, Principal } from '../core/caller.js'
import { AppError } from '../core/errors.js'
import { API_KEY_PREFIX, type ApiKeysService } from './api-keys.service.js'
import type { AuthChanges } from './auth-changes.js'
import type { AuthEvents } from './auth-events.js'
import { badBasicCredentials } from './basic.js'
import type { ClientInfo } from './client-info.js'
import type { CookieSessions } from './cookie-sessions.js'
import type { CredentialGuard } from './credential-guard.js'
import type { IdentityCache } from './identity-cache.js'
import type { PasswordCheck } from './password-check.js'
import type { Revocations } from './revocations.js'
import { type AccessTokenIssuer, invalidToken } from './tokens.js'

/** What the auth plugin needs: credentials in, a caller out, or a 401 that says why not. */
export interface Authenticator {
  /** An access token (Bearer, `JWT`, or `?access_token=`); 401 `invalid_token` if it no longer counts. */
  accessToken(token: string, scheme: 'bearer' | 'query'): Promise<Caller>
  /** An API key, sent as a Bearer token; 401 `invalid_token` if unknown, expired or its user disabled. */
  apiKey(key: string, client: ClientInfo): Promise<Caller>
  /** Basic credentials; 401 asking for Basic again if wrong or the user is disabled. */
  basic(username: string, password: string, client: ClientInfo): Promise<Caller>
  /**
   * A session cookie; undefined when it names no live session (a browser keeps a cookie after
   * its session ended elsewhere: that is a signed-out visitor, not an attack).
   */
  cookie(value: string): Promise<Caller | undefined>
  /** Whether `token` is the CSRF token of the cookie session `caller`. */
  csrfTokenMatches(caller: Caller, token: string): boolean
}

/** API keys and access tokens both come as Bearer tokens; the prefix tells them apart. */
export const isApiKey = (token: string): boolean => token.startsWith(API_KEY_PREFIX)

export function createAuthenticator(deps: {
  accessTokens: AccessTokenIssuer
  revocations: Revocations
  identities: IdentityCache
  apiKeys: Pick<ApiKeysService, 'principalOf'>
  passwords: Pick<PasswordCheck, 'signIn'>
  guard: CredentialGuard
  cookies: CookieSessions
  /** Every credential is judged on caches that first catch up with other processes. */
  changes: AuthChanges
  events: AuthEvents
}): Authenticator {
  const { accessTokens, revocations, identities, passwords, guard, changes, events } = deps

  /**
   * From the cache of recent successes, else one argon2 verification; both under the guard's
   * limits, and every failure audited like a failed login.
   */
  async function principalOfBasic(
    username: string,
    password: string,
    client: ClientInfo,
  ): Promise<Principal | undefined> {
    const remembered = identities.verifiedCredential(username, password)
    if (remembered !== undefined) {
      const principal = await identities.principal(remembered.userId)
      if (principal !== undefined && principal.passwordChangedAt === remembered.passwordChangedAt) {
        try {
          await guard.check(username, client.address)
        } catch (error) {
          events.refused('basic', 'rate_limited')
          throw error
        }
        return principal
      }
    }
    const row = await passwords.signIn(username, password, client, 'basic')
    if (row === undefined) return undefined
    const principal = await identities.principal(row.id)
    if (principal !== undefined) identities.rememberCredential(username, password, principal)
    return principal
  }

  return {
    async accessToken(token, scheme) {
      let claims: Awaited<ReturnType<AccessTokenIssuer['verify']>>
      try {
        claims = await accessTokens.verify(token)
      } catch (error) {
        const expired = error instanceof AppError && error.code === 'TOKEN_EXPIRED'
        events.refused(scheme, expired ? 'expired' : 'invalid')
        throw error
      }
      await changes.catchUp()
      if (await revocations.isRevoked(claims)) {
        events.refused(scheme, 'revoked')
        throw invalidToken('The access token has been revoked')
      }
      // Role and disabled state come from the user now, not from the token.
      const principal = await identities.principal(claims.sub)
      if (principal === undefined || principal.disabled) {
        events.refused(scheme, 'disabled')
        throw invalidToken('The user is no longer active')
      }
      return { principal, scheme, claims, sessionId: claims.sid }
    },
    async apiKey(key, client) {
      await changes.catchUp()
      const principal = await deps.apiKeys.principalOf(key, client)
      if (principal === undefined || principal.disabled) {
        events.refused('api_key', principal === undefined ? 'invalid' : 'disabled')
        throw invalidToken('The API key is invalid or expired')
      }
      return { principal, scheme: 'api_key' }
    },
    async basic(username, password, client) {
      await changes.catchUp()
      // A wrong password was counted where it was checked (password-check.ts).
      const principal = await principalOfBasic(username, password, client)
      if (principal === undefined) throw badBasicCredentials()
      if (principal.disabled) {
        events.refused('basic', 'disabled')
        throw badBasicCredentials()
      }
      // A password alone is not enough for this account; Basic has no room for the code.
      if (principal.mfaEnabled) {
        events.refused('basic', 'mfa_required')
        throw new AppError(
          'MFA_BASIC_REFUSED',
          'Two-factor login is on for this account: Basic credentials are refused. Use an access token (POST /api/v1/auth/login, then /api/v1/auth/login/mfa) or an API key',
          { challenge: 'basic' },
        )
      }
      return { principal, scheme: 'basic' }
    },
    async cookie(value) {
      await changes.catchUp()
      return deps.cookies.callerOf(value)
    },
    csrfTokenMatches: (caller, token) => deps.cookies.csrfTokenMatches(caller, token),
  }
}
