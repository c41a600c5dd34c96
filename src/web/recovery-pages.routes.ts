import formBody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { pageDoc } from '../core/docs.js'
import { AppError } from '../core/errors.js'
import type { RecoveryService } from '../recovery/recovery.service.js'
import type { UiAssets } from './assets.js'
import { escapeHtml, htmlPage, type PageOptions, sendHtml } from './layout.js'
import { mountPoint } from './shells.routes.js'

const TokenQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 200 })) })
// Fields are checked by the service, not by a schema, so a bad form gets the form back, not JSON.
const ResetForm = Type.Optional(
  Type.Object(
    { new_password: Type.Optional(Type.String({ maxLength: 4096 })) },
    { additionalProperties: true },
  ),
)

/** Where the page's form posts: its own URL, token included. */
const actionOf = (path: string, token: string) => `${path}?token=${encodeURIComponent(token)}`

function resetForm(options: PageOptions, token: string, error?: string): string {
  const message =
    error === undefined
      ? ''
      : `<p class="alert error" role="alert" id="password-error">${escapeHtml(error)}</p>`
  const described = error === undefined ? '' : ' aria-describedby="password-error"'
  return htmlPage(
    'Choose a new password',
    `${message}
<form method="post" action="${escapeHtml(actionOf('/reset-password', token))}" class="form">
<div class="field"><label for="new_password">New password</label>
<input id="new_password" name="new_password" type="password" autocomplete="new-password" required maxlength="1024"${described} autofocus></div>
<p><button type="submit">Set the new password</button></p>
</form>
<p>Every session of your account ends, and its API keys are revoked.</p>`,
    options,
  )
}

function invalidLink(reply: FastifyReply, options: PageOptions, what: string): FastifyReply {
  return sendHtml(
    reply,
    400,
    htmlPage(
      'This link does not work',
      `<p>The link is invalid, has expired or was already used. ${escapeHtml(what)}</p>`,
      options,
    ),
  )
}

const isInvalidToken = (error: unknown) =>
  error instanceof AppError && error.code === 'INVALID_ACCOUNT_TOKEN'

/**
 * The pages the account mails link to (API.md §8). A GET only shows a form, because mail
 * scanners follow links; the form's POST acts, through the same service as the API.
 */
export const recoveryPagesRoutes: FastifyPluginAsyncTypebox<{
  recovery: RecoveryService
  assets: UiAssets
}> = async (app, { recovery, assets }) => {
  await app.register(formBody, { bodyLimit: 16_384 })
  const options: PageOptions = { assets: assets.page() }

  app.get(
    '/verify-email',
    {
      schema: {
        ...pageDoc('HTML page with a button that POSTs; a GET changes nothing'),
        querystring: TokenQuery,
      },
    },
    async (request, reply) =>
      sendHtml(
        reply,
        200,
        htmlPage(
          'Confirm your email address',
          `<p>Press the button to confirm that this address is yours.</p>
<form method="post" action="${escapeHtml(actionOf('/verify-email', request.query.token ?? ''))}">
<button type="submit">Confirm address</button>
</form>`,
          options,
        ),
      ),
  )

  app.post(
    '/verify-email',
    { schema: { ...pageDoc('HTML page action: verifies'), querystring: TokenQuery } },
    async (request, reply) => {
      try {
        await recovery.verifyEmail(request.query.token ?? '')
      } catch (error) {
        if (isInvalidToken(error)) {
          return invalidLink(
            reply,
            options,
            'Change the address on your account page to get a new one.',
          )
        }
        throw error
      }
      return sendHtml(
        reply,
        200,
        htmlPage(
          'Email address confirmed',
          '<p>Thank you: password reset links can now be sent to this address.</p>',
          options,
        ),
      )
    },
  )

  app.get(
    '/reset-password',
    {
      schema: {
        ...pageDoc('HTML form for a new password; a GET changes nothing'),
        querystring: TokenQuery,
      },
    },
    async (request, reply) => {
      const token = request.query.token ?? ''
      if (token !== '') return sendHtml(reply, 200, resetForm(options, token))
      // No link yet: ask for one. The form calls POST /api/v1/auth/password-reset, whose limits
      // and equal answers hold for the page too.
      return sendHtml(
        reply,
        200,
        htmlPage(
          'Forgot your password?',
          `<p>Give your username or your email address. If the account has a verified address, we mail a link to choose a new password.</p>
${mountPoint('forgot-password')}`,
          { assets: assets.page('public'), width: 'narrow' },
        ),
      )
    },
  )

  app.post(
    '/reset-password',
    {
      schema: {
        ...pageDoc('HTML page action: sets the new password'),
        querystring: TokenQuery,
        body: ResetForm,
      },
    },
    async (request, reply) => {
      const token = request.query.token ?? ''
      try {
        await recovery.confirmReset(token, request.body?.new_password ?? '')
      } catch (error) {
        if (isInvalidToken(error)) return invalidLink(reply, options, 'Ask for a new one.')
        if (error instanceof AppError && error.code === 'WEAK_PASSWORD') {
          return sendHtml(
            reply,
            400,
            resetForm(
              options,
              token,
              `The new password ${error.detail.replace(/^new_password /, '')}.`,
            ),
          )
        }
        throw error
      }
      return sendHtml(
        reply,
        200,
        htmlPage(
          'Password changed',
          '<p>Your new password is set. <a href="/login">Sign in</a> with it.</p>',
          options,
        ),
      )
    },
  )
}
