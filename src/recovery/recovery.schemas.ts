import { type Static, Type } from '@sinclair/typebox'
import { PASSWORD_MAX_LENGTH } from '../auth/passwords.js'

// What a mailed token looks like (256 random bits, base64url), for the examples.
const TOKEN_EXAMPLE = 'mV3q8Zc1xP0bT7uKf2LrW9yHs4DgNeAo6jQiBt5EwRk'
const MailedToken = Type.String({ minLength: 1, maxLength: 200, description: 'From the link' })
const NewPassword = Type.String({
  maxLength: PASSWORD_MAX_LENGTH * 4,
  description: 'PASSWORD_MIN_LENGTH–1024 characters after NFKC; not a common password',
})

export const EmailVerifyBody = Type.Object(
  { token: MailedToken },
  { title: 'EmailVerifyBody', additionalProperties: false, examples: [{ token: TOKEN_EXAMPLE }] },
)

export const PasswordResetBody = Type.Object(
  {
    login: Type.String({
      minLength: 1,
      maxLength: 254,
      description: 'A username, or a verified email address',
    }),
  },
  {
    title: 'PasswordResetBody',
    additionalProperties: false,
    examples: [{ login: 'alice' }, { login: 'alice@example.com' }],
  },
)
export type PasswordResetBody = Static<typeof PasswordResetBody>

export const PasswordResetConfirmBody = Type.Object(
  { token: MailedToken, new_password: NewPassword },
  {
    title: 'PasswordResetConfirmBody',
    additionalProperties: false,
    examples: [{ token: TOKEN_EXAMPLE, new_password: 'a new and rather long passphrase' }],
  },
)

export const PasswordSetBody = Type.Object(
  { new_password: NewPassword },
  {
    title: 'PasswordSetBody',
    additionalProperties: false,
    examples: [{ new_password: 'a new and rather long passphrase' }],
  },
)

/** The one answer to a reset request, whatever happened (API.md §10). */
export const ResetRequested = Type.Object(
  { status: Type.Literal('sent') },
  { title: 'ResetRequested' },
)
