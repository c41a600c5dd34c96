import type { Caller, Principal } from '../core/caller.js'
import { API_KEY_PREFIX, type ApiKeysService } from './api-keys.service.js'
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
}): Authenticator {
  const { accessTokens, revocations, identities, passwords, guard } = deps

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
        await guard.check(username, client.address)
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
      const claims = await accessTokens.verify(token)
      if (await revocations.isRevoked(claims)) {
        throw invalidToken('The access token has been revoked')
      }
      // Role and disabled state come from the user now, not from the token.
      const principal = await identities.principal(claims.sub)
      if (principal === undefined || principal.disabled) {
        throw invalidToken('The user is no longer active')
      }
      return { principal, scheme, claims, sessionId: claims.sid }
    },
    async apiKey(key, client) {
      const principal = await deps.apiKeys.principalOf(key, client)
      if (principal === undefined || principal.disabled) {
        throw invalidToken('The API key is invalid or expired')
      }
      return { principal, scheme: 'api_key' }
    },
    async basic(username, password, client) {
      const principal = await principalOfBasic(username, password, client)
      if (principal === undefined || principal.disabled) throw badBasicCredentials()
      return { principal, scheme: 'basic' }
    },
    cookie: (value) => deps.cookies.callerOf(value),
    csrfTokenMatches: (caller, token) => deps.cookies.csrfTokenMatches(caller, token),
  }
}
