import { type Static, Type } from '@sinclair/typebox'
import { PASSWORD_MAX_LENGTH } from '../auth/passwords.js'

const Password = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH * 4 })
/** A 6-digit TOTP code, or where one is taken a recovery code; spaces and dashes are ignored. */
const Code = Type.String({
  minLength: 6,
  maxLength: 32,
  description: 'The 6-digit code of the authenticator app (or, where taken, a recovery code)',
})

export const TotpSetUpBody = Type.Object(
  { password: Password },
  {
    title: 'TotpSetUpBody',
    additionalProperties: false,
    examples: [{ password: 'correct horse battery staple' }],
  },
)

export const TotpSetUp = Type.Object(
  {
    secret: Type.String({ description: 'Base32; shown only now' }),
    otpauth_uri: Type.String({ description: 'otpauth://totp/… for a QR code' }),
  },
  { title: 'TotpSetUp', description: 'RFC 6238: SHA-1, 6 digits, 30 s; pending until confirmed' },
)
export type TotpSetUp = Static<typeof TotpSetUp>

export const CodeBody = Type.Object(
  { code: Code },
  { title: 'MfaCodeBody', additionalProperties: false, examples: [{ code: '123456' }] },
)

export const TotpDisableBody = Type.Object(
  { password: Password, code: Code },
  {
    title: 'TotpDisableBody',
    additionalProperties: false,
    examples: [{ password: 'correct horse battery staple', code: '123456' }],
  },
)

export const RecoveryCodes = Type.Object(
  {
    recovery_codes: Type.Array(Type.String(), {
      minItems: 10,
      maxItems: 10,
      description: 'Each works once in place of a code; shown only now, kept as hashes',
    }),
  },
  { title: 'RecoveryCodes' },
)
export type RecoveryCodes = Static<typeof RecoveryCodes>

export const MfaLoginBody = Type.Object(
  {
    mfa_token: Type.String({ minLength: 1, maxLength: 512 }),
    code: Code,
  },
  {
    title: 'MfaLoginBody',
    additionalProperties: false,
    examples: [{ mfa_token: 'Zq2c0mB7xW1n9VYtQe8KfR4uJpL3sHaD6gEoNiUyT5k', code: '123456' }],
  },
)
