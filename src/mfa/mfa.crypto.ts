import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto'

/** Encrypts and decrypts TOTP secrets at rest (AES-256-GCM), bound to their user. */
export interface SecretBox {
  seal(userId: string, secret: string): string
  open(userId: string, sealed: string): string
}

const VERSION = 'v1'

/**
 * A database dump alone does not give away anyone's second factor: the key is derived (HKDF)
 * from the server secret, which lives in DATA_DIR or the environment, never in the database.
 * The user id is the additional data, so a sealed secret copied to another row does not open.
 */
export function createSecretBox(serverSecret: Buffer): SecretBox {
  const key = Buffer.from(
    hkdfSync('sha256', serverSecret, Buffer.alloc(0), 'gatehouse mfa totp secret v1', 32),
  )
  return {
    seal(userId, secret) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      cipher.setAAD(Buffer.from(userId))
      const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()])
      return [VERSION, iv, cipher.getAuthTag(), ciphertext]
        .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
        .join('.')
    },
    open(userId, sealed) {
      const [version, iv, tag, ciphertext] = sealed.split('.')
      if (
        version !== VERSION ||
        iv === undefined ||
        tag === undefined ||
        ciphertext === undefined
      ) {
        throw new Error('Unknown sealed-secret format')
      }
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
      decipher.setAAD(Buffer.from(userId))
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      return Buffer.concat([
        decipher.update(Buffer.from(ciphertext, 'base64url')),
        decipher.final(),
      ]).toString('utf8')
    },
  }
}

// Crockford's base32: no i, l, o or u to misread.
const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'

/** Ten codes of 60 random bits each, as `xxxx-xxxx-xxxx`. */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: 10 }, () => {
    const bytes = randomBytes(12)
    const chars = [...bytes].map((byte) => RECOVERY_ALPHABET[byte % 32]).join('')
    return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`
  })
}

/** A code as typed, in the form it was hashed in: case, spaces and dashes do not matter. */
export function normaliseCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, '')
}

export const isRecoveryCodeShape = (normalised: string): boolean =>
  /^[0-9a-hjkmnp-tv-z]{12}$/.test(normalised)

/**
 * Recovery codes are kept as keyed hashes (HMAC, key derived from the server secret): 60 bits
 * are too few to leave to a plain hash should the database leak.
 */
export function createRecoveryCodeHasher(serverSecret: Buffer): (code: string) => string {
  const key = Buffer.from(
    hkdfSync('sha256', serverSecret, Buffer.alloc(0), 'gatehouse mfa recovery codes v1', 32),
  )
  return (code) => createHmac('sha256', key).update(normaliseCode(code)).digest('base64url')
}
