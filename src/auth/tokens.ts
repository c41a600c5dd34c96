import { createSigner, createVerifier, TokenError } from 'fast-jwt'
import { uuidv7 } from 'uuidv7'
import type { AccessClaims, Role } from '../core/caller.js'
import { AppError } from '../core/errors.js'
import type { SigningKeys } from './keys.js'

export const TOKEN_ISSUER = 'gatehouse'
export const TOKEN_AUDIENCE = 'gatehouse'
const CLOCK_TOLERANCE_MS = 30_000

export interface AccessTokenIssuer {
  issue(subject: { userId: string; sessionId: string; role: Role }): {
    token: string
    claims: AccessClaims
  }
  /** Throws 401 `Invalid token` / `Token has expired`; never trusts keys named by the token. */
  verify(token: string): AccessClaims
}

export function invalidToken(description: string): AppError {
  return new AppError('INVALID_TOKEN', description)
}

export function createAccessTokenIssuer(keys: SigningKeys, ttlSeconds: number): AccessTokenIssuer {
  const signingKey =
    keys.algorithm === 'HS256'
      ? keys.secret
      : keys.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const verifyingKey =
    keys.algorithm === 'HS256'
      ? keys.secret
      : keys.publicKey.export({ format: 'pem', type: 'spki' }).toString()
  const sign = createSigner({
    key: signingKey,
    algorithm: keys.algorithm,
    header:
      keys.algorithm === 'EdDSA'
        ? { alg: 'EdDSA', typ: 'at+jwt', kid: keys.kid }
        : { alg: 'HS256', typ: 'at+jwt' },
  })
  // The algorithm is pinned and the key is ours: alg "none", another algorithm, and jwk/jku/x5u
  // or kid headers can never choose the key. Verified tokens are cached (bounded, until exp).
  const verifier = createVerifier({
    key: verifyingKey,
    algorithms: [keys.algorithm],
    allowedIss: TOKEN_ISSUER,
    allowedAud: TOKEN_AUDIENCE,
    checkTyp: 'at+jwt',
    requiredClaims: ['exp', 'iat', 'sub', 'sid', 'jti', 'iss', 'aud'],
    clockTolerance: CLOCK_TOLERANCE_MS,
    // However far off its exp, no token of ours is older than the TTL: one signed with a
    // leaked or misused key cannot be made to live for years. fast-jwt counts this from iat.
    maxAge: ttlSeconds * 1000 + CLOCK_TOLERANCE_MS,
    cache: 10_000,
  })

  return {
    issue({ userId, sessionId, role }) {
      const now = Math.floor(Date.now() / 1000)
      const claims: AccessClaims = {
        sub: userId,
        sid: sessionId,
        jti: uuidv7(),
        role,
        iat: now,
        nbf: now,
        exp: now + ttlSeconds,
      }
      return { token: sign({ ...claims, iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE }), claims }
    },
    verify(token) {
      let payload: Record<string, unknown>
      try {
        payload = verifier(token) as Record<string, unknown>
      } catch (error) {
        if (error instanceof TokenError && error.code === TokenError.codes.expired) {
          throw new AppError('TOKEN_EXPIRED', 'The access token has expired')
        }
        throw invalidToken('The access token is invalid')
      }
      const { sub, sid, jti, role, iat, nbf, exp } = payload
      if (
        typeof sub !== 'string' ||
        typeof sid !== 'string' ||
        typeof jti !== 'string' ||
        (role !== 'admin' && role !== 'user') ||
        typeof iat !== 'number' ||
        typeof exp !== 'number' ||
        // We issue exp = iat + TTL; a longer span is not our token. An iat in the future would
        // push the max age (counted from iat) out as far as it names.
        exp - iat > ttlSeconds ||
        iat * 1000 > Date.now() + CLOCK_TOLERANCE_MS
      ) {
        throw invalidToken('The access token is invalid')
      }
      return { sub, sid, jti, role, iat, nbf: typeof nbf === 'number' ? nbf : iat, exp }
    },
  }
}
