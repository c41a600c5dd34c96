import { createHash, createHmac, randomBytes } from 'node:crypto'

export interface MailTokens {
  /** A single-use confirmation token (256 random bits) and the hash that is stored. */
  newConfirmToken(): { token: string; hash: string }
  /**
   * The subscriber's long-lived unsubscribe token. It is derived with a server key rather
   * than stored, so any later mail can carry it while the database holds only its hash.
   */
  unsubscribeToken(subscriberId: string): string
  hash(token: string): string
}

/**
 * High-entropy tokens need no slow hash: SHA-256 keeps lookups by hash exact and fast. The
 * same hash as auth's tokens, written here so that mail depends on no feature.
 */
function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

export function createMailTokens(secret: Uint8Array): MailTokens {
  const key = createHmac('sha256', secret).update('gatehouse:mail-tokens').digest()
  return {
    newConfirmToken() {
      const token = randomBytes(32).toString('base64url')
      return { token, hash: hashToken(token) }
    },
    unsubscribeToken(subscriberId) {
      return createHmac('sha256', key).update(`unsubscribe:${subscriberId}`).digest('base64url')
    },
    hash: hashToken,
  }
}

export interface MailLinks {
  confirm(token: string): string
  unsubscribe(token: string): string
}

/** Links in mail always start at PUBLIC_URL, never at a request's Host header. */
export function createMailLinks(publicUrl: string): MailLinks {
  return {
    confirm: (token) => `${publicUrl}/subscribe/confirm?token=${encodeURIComponent(token)}`,
    unsubscribe: (token) => `${publicUrl}/unsubscribe?token=${encodeURIComponent(token)}`,
  }
}
