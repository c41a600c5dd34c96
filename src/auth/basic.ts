import { AppError } from '../core/errors.js'

/** Wrong Basic credentials ask for Basic again (login's own 401 asks for Bearer). */
export const badBasicCredentials = () =>
  new AppError('INVALID_CREDENTIALS', 'Invalid username or password', { challenge: 'basic' })

const UTF8 = new TextDecoder('utf-8', { fatal: true })
const LATIN1 = new TextDecoder('latin1')
// No username holds a control character; a NUL would also reach the database, which refuses it
// (PostgreSQL). Passwords may hold anything registration took: argon2 takes any bytes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\u0000-\u001f\u007f]/

/**
 * `user:password` of a Basic header (RFC 7617): UTF-8, or ISO-8859-1 when the bytes are not
 * UTF-8 (what Python's requests sends); the username NFKC as at registration (the password is
 * normalised where it is checked). Undefined when it cannot be credentials at all.
 */
export function basicCredentials(
  encoded: string,
): { username: string; password: string } | undefined {
  if (encoded.length > 8192 || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) return undefined
  const bytes = Buffer.from(encoded, 'base64')
  let decoded: string
  try {
    decoded = UTF8.decode(bytes)
  } catch {
    decoded = LATIN1.decode(bytes)
  }
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  const username = decoded.slice(0, colon).normalize('NFKC')
  const password = decoded.slice(colon + 1)
  if (username === '' || CONTROL.test(username)) return undefined
  return { username, password }
}
