import { createHash, randomBytes } from 'node:crypto'

/** An opaque secret of 256 random bits, URL-safe (refresh tokens, API keys, mail links). */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/** High-entropy secrets need no slow hash: SHA-256 keeps lookups by hash exact and fast. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}
