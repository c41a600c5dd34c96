import { createSigner, createVerifier, TokenError } from 'fast-jwt'
import { uuidv7 } from 'uuidv7'
import type { AccessClaims, Role } from '../core/caller.js'
import { AppError } from '../core/errors.js'
import { CLOCK_TOLERANCE_MS, type SigningKeyRing } from './signing-keys.js'

export const TOKEN_ISSUER = 'gatehouse'
export const TOKEN_AUDIENCE = 'gatehouse'

export interface AccessTokenIssuer {
  issue(subject: { userId: string; sessionId: string; role: Role }): Promise<{
    token: string
    claims: AccessClaims
  }>
  /** Throws 401 `Invalid token` / `Token has expired`; never trusts keys named by the token. */
  verify(token: string): Promise<AccessClaims>
}

/** What signs and verifies: the one HS256 secret, or our EdDSA key set. */
export type TokenKeys =
  | { readonly algorithm: 'HS256'; readonly secret: Buffer }
  | { readonly algorithm: 'EdDSA'; readonly ring: SigningKeyRing }

export function invalidToken(description: string): AppError {
  return new AppError('INVALID_TOKEN', description)
}

type Verify = (token: string) => unknown

/** The header's kid, or undefined when there is none or the token is not a JWT at all. */
function kidOf(token: string): string | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0) return undefined
  try {
    const header: unknown = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString())
    const kid =
      typeof header === 'object' && header !== null ? Reflect.get(header, 'kid') : undefined
    return typeof kid === 'string' ? kid : undefined
  } catch {
    return undefined
  }
}

type Sign = (payload: Record<string, unknown>) => string

interface Keys {
  signer(): Promise<Sign>
  /** The verifier for this token's key, or undefined when it names none of ours. */
  verifierOf(token: string): Promise<Verify | undefined>
}

/**
 * The algorithm is pinned and the key is ours: alg "none", another algorithm, and jwk/jku/x5u
 * headers can never choose the key; a kid only selects among our own keys. Verified tokens are
 * cached (bounded, until exp).
 */
function verifierFor(
  algorithm: TokenKeys['algorithm'],
  key: string | Buffer,
  ttlSeconds: number,
): Verify {
  return createVerifier({
    key,
    algorithms: [algorithm],
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
}

/** HS256 has one secret and nothing to rotate: its tokens carry no kid, and the JWKS is empty. */
function hs256Keys(secret: Buffer, ttlSeconds: number): Keys {
  const sign = createSigner({
    key: secret,
    algorithm: 'HS256',
    header: { alg: 'HS256', typ: 'at+jwt' },
  })
  const verify = verifierFor('HS256', secret, ttlSeconds)
  return { signer: async () => sign, verifierOf: async () => verify }
}

/** EdDSA: the key set's active key signs; a verifier per key of ours, made when first needed. */
function eddsaKeys(ring: SigningKeyRing, ttlSeconds: number): Keys {
  let signing: { kid: string; sign: Sign } | undefined
  const verifiers = new Map<string, Verify>()
  return {
    async signer() {
      const { kid, privateKey } = await ring.active()
      if (signing?.kid !== kid) {
        const key = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
        const header = { alg: 'EdDSA', typ: 'at+jwt', kid }
        signing = { kid, sign: createSigner({ key, algorithm: 'EdDSA', header }) }
      }
      return signing.sign
    },
    async verifierOf(token) {
      const kid = kidOf(token)
      if (kid === undefined) return undefined
      const key = await ring.verifying(kid)
      if (key === undefined) {
        verifiers.delete(kid)
        return undefined
      }
      let verify = verifiers.get(kid)
      if (verify === undefined) {
        const pem = key.publicKey.export({ format: 'pem', type: 'spki' }).toString()
        verify = verifierFor('EdDSA', pem, ttlSeconds)
        verifiers.set(kid, verify)
      }
      return verify
    },
  }
}

export function createAccessTokenIssuer(keys: TokenKeys, ttlSeconds: number): AccessTokenIssuer {
  const { signer, verifierOf } =
    keys.algorithm === 'HS256'
      ? hs256Keys(keys.secret, ttlSeconds)
      : eddsaKeys(keys.ring, ttlSeconds)

  return {
    async issue({ userId, sessionId, role }) {
      const sign = await signer()
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
    async verify(token) {
      const verifier = await verifierOf(token)
      if (verifier === undefined) throw invalidToken('The access token is invalid')
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
