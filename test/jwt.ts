import { createHmac, type KeyObject, sign } from 'node:crypto'

/**
 * Hand-built JWTs for the token-refusal tests: every header and claim is exactly what the
 * test says, with no library in between deciding what is "valid".
 */

export type JwtHeader = Record<string, unknown>
export type JwtPayload = Record<string, unknown>

export type ForgeKey =
  | { alg: 'none' }
  | { alg: 'HS256' | 'HS384' | 'HS512'; secret: string | Buffer }
  | { alg: 'EdDSA'; privateKey: KeyObject }

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Signs `header.payload` with the given key; `header.alg` is taken as given (it may lie). */
export function forgeJwt(header: JwtHeader, payload: JwtPayload, key: ForgeKey): string {
  const input = `${b64url(header)}.${b64url(payload)}`
  let signature: Buffer
  switch (key.alg) {
    case 'none':
      signature = Buffer.alloc(0)
      break
    case 'HS256':
    case 'HS384':
    case 'HS512':
      signature = createHmac(`sha${key.alg.slice(2)}`, key.secret)
        .update(input)
        .digest()
      break
    case 'EdDSA':
      signature = sign(null, Buffer.from(input), key.privateKey)
      break
  }
  return `${input}.${signature.toString('base64url')}`
}

/** The header and payload of a JWT, unverified. */
export function decodeJwt(token: string): { header: JwtHeader; payload: JwtPayload } {
  const [header, payload] = token.split('.')
  if (header === undefined || payload === undefined) throw new Error('not a JWT')
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as JwtHeader,
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JwtPayload,
  }
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

let jtiCounter = 0
/** Claims of a well-formed access token for `sub`/`sid`; `overrides` replace or (undefined) drop claims. */
export function accessClaims(
  subject: { sub: string; sid: string; role?: 'admin' | 'user' },
  overrides: Record<string, unknown> = {},
): JwtPayload {
  const now = nowSeconds()
  jtiCounter += 1
  const claims: JwtPayload = {
    sub: subject.sub,
    sid: subject.sid,
    role: subject.role ?? 'user',
    jti: `forged-${process.pid}-${jtiCounter}-${now}`,
    iat: now,
    nbf: now,
    exp: now + 600,
    iss: 'gatehouse',
    aud: 'gatehouse',
  }
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete claims[name]
    else claims[name] = value
  }
  return claims
}
