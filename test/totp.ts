import { createHmac } from 'node:crypto'

// An HOTP/TOTP generator of the tests' own (RFC 4226 §5.3, RFC 6238 §4), independent of the
// library the service uses: codes computed from the secret a set-up showed.
// src/mfa/mfa.routes.test.ts checks it on the RFC 6238 test vectors.

export function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(char).toString(2).padStart(5, '0')
  }
  const bytes: number[] = []
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(Number.parseInt(bits.slice(i, i + 8), 2))
  return Buffer.from(bytes)
}

export function hotp(key: Buffer, counter: number, digits = 6): string {
  const message = Buffer.alloc(8)
  message.writeBigUInt64BE(BigInt(counter))
  const mac = createHmac('sha1', key).update(message).digest()
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f
  const binary = mac.readUInt32BE(offset) & 0x7fffffff
  return String(binary % 10 ** digits).padStart(digits, '0')
}

/** The 30-second time-step now. */
export const stepNow = (): number => Math.floor(Date.now() / 30_000)

/** The 6-digit code of a base32 `secret` for the time-step `offset` steps from now. */
export const totpCode = (secret: string, offset = 0): string =>
  hotp(base32Decode(secret), stepNow() + offset)

/**
 * Waits out the last seconds of a time-step, so that a code computed now is checked in the
 * step it was computed for (a test that counts steps would otherwise fail at a boundary).
 */
export async function freshStep(): Promise<void> {
  const into = Date.now() % 30_000
  if (into > 25_000) await new Promise((resolve) => setTimeout(resolve, 30_500 - into))
}
