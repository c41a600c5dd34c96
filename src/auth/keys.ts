import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  randomBytes,
} from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Config } from '../core/config.js'

/**
 * The keys in the data dir (or JWT_SECRET): the HS256 secret, or the first Ed25519 key. Keys
 * added by rotation live in the database (signing-keys.ts); these never change, so neither does
 * the server secret derived from them.
 */
export type SigningKeys =
  | { readonly algorithm: 'HS256'; readonly secret: Buffer }
  | {
      readonly algorithm: 'EdDSA'
      readonly privateKey: KeyObject
      readonly publicKey: KeyObject
      readonly kid: string
      readonly jwk: JsonWebKey
    }

/** Reads a key file, or creates it once with mode 0600 (exclusive create, so two starts agree). */
function readOrCreate(file: string, create: () => string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  try {
    writeFileSync(file, create(), { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  return readFileSync(file, 'utf8')
}

/** RFC 7638 thumbprint of an OKP key: the kid published in the JWKS. */
export function thumbprint(jwk: JsonWebKey): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x })
  return createHash('sha256').update(canonical).digest('base64url')
}

export function loadSigningKeys(
  config: Pick<Config, 'jwtAlgorithm' | 'jwtSecret' | 'dataDir'>,
): SigningKeys {
  if (config.jwtAlgorithm === 'HS256') {
    const secret =
      config.jwtSecret ??
      readOrCreate(path.join(config.dataDir, 'jwt-secret'), () =>
        randomBytes(48).toString('base64url'),
      ).trim()
    return { algorithm: 'HS256', secret: Buffer.from(secret, 'utf8') }
  }
  const pem = readOrCreate(path.join(config.dataDir, 'jwt-ed25519.pem'), () =>
    generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  )
  const privateKey = createPrivateKey(pem)
  const publicKey = createPublicKey(privateKey)
  const exported = publicKey.export({ format: 'jwk' })
  const kid = thumbprint(exported)
  return {
    algorithm: 'EdDSA',
    privateKey,
    publicKey,
    kid,
    jwk: { ...exported, kid, alg: 'EdDSA', use: 'sig' },
  }
}

/**
 * The secret Gatehouse derives its other keys from (cursors, idempotency, mail tokens, the
 * encryption of rotated signing keys): the HS256 secret, or the data-dir Ed25519 private key's
 * bytes, so every instance with the same keys agrees. Rotation adds keys beside that one and
 * never replaces it, so this secret stays the same across rotations.
 */
export function serverSecretOf(keys: SigningKeys): Buffer {
  return keys.algorithm === 'HS256'
    ? keys.secret
    : Buffer.from(keys.privateKey.export({ format: 'der', type: 'pkcs8' }))
}
