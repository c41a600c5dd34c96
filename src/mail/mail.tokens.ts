import { createHmac } from 'node:crypto'
import { hashToken, randomToken } from '../core/opaque-tokens.js'

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

export function createMailTokens(secret: Uint8Array): MailTokens {
  const key = createHmac('sha256', secret).update('gatehouse:mail-tokens').digest()
  return {
    newConfirmToken() {
      const token = randomToken()
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
