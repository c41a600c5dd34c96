import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authTag } from '../auth/auth.routes.js'
import { profileTag } from '../auth/profile.routes.js'
import { callerOf } from '../core/caller.js'
import { clientKey } from '../core/caller-key.js'
import { hookEveryRoute } from '../core/route-docs.js'
import { NoContent } from '../core/schemas.js'
import { usersTag } from '../users/users.routes.js'
import { User, UserParams } from '../users/users.schemas.js'
import {
  EmailVerifyBody,
  PasswordResetBody,
  PasswordResetConfirmBody,
  PasswordSetBody,
  ResetRequested,
} from './recovery.schemas.js'
import type { RecoveryService } from './recovery.service.js'

const INVALID_LINK = 'The token is invalid, has expired or was already used'

/** `POST /api/v1/auth/password-reset` and its confirmation; no credentials. */
export const recoveryAuthRoutes: FastifyPluginAsyncTypebox<{
  recovery: RecoveryService
}> = async (app, { recovery }) => {
  const tags = [authTag.name]
  app.post(
    '/password-reset',
    {
      // The per-client limit here; the per-account one is the service's, which knows the account.
      config: {
        rateLimit: { max: 5, timeWindow: '1 hour', keyGenerator: clientKey('password-reset') },
      },
      schema: {
        tags,
        operationId: 'requestPasswordReset',
        summary: 'Mail a reset link to the verified address of an account',
        description:
          'The answer is the same, and takes about as long, whether or not the account exists or has a verified address; only a verified address is mailed.',
        body: PasswordResetBody,
        response: { 202: ResetRequested },
        problems: {
          429: 'More than 5 requests an hour from this client, or 3 an hour for this account, however it is named',
        },
      },
    },
    async (request, reply) => {
      await recovery.requestReset(request.body.login, { ip: request.ip })
      return reply.code(202).header('cache-control', 'no-store').send({ status: 'sent' })
    },
  )

  app.post(
    '/password-reset/confirm',
    {
      schema: {
        tags,
        operationId: 'confirmPasswordReset',
        summary: 'Set a new password with a reset link: every session ends, API keys are revoked',
        body: PasswordResetConfirmBody,
        response: { 204: NoContent },
        problems: { 400: `${INVALID_LINK}, or the new password is too short or too common` },
      },
    },
    async (request, reply) => {
      await recovery.confirmReset(request.body.token, request.body.new_password)
      return reply.code(204).send(null)
    },
  )
}

/** `POST /api/v1/profile/email/verify`: the link is the credential, so none is asked. */
export const recoveryProfileRoutes: FastifyPluginAsyncTypebox<{
  recovery: RecoveryService
}> = async (app, { recovery }) => {
  app.post(
    '/email/verify',
    {
      schema: {
        tags: [profileTag.name],
        operationId: 'verifyEmail',
        summary: 'Verify an email address with the token of the link mailed to it',
        body: EmailVerifyBody,
        response: { 200: User },
        problems: { 400: INVALID_LINK },
      },
    },
    async (request, reply) =>
      reply
        .header('cache-control', 'no-store')
        .send(await recovery.verifyEmail(request.body.token)),
  )
}

/** Admin help for a user who cannot sign in (API.md §10). */
export const recoveryUsersRoutes: FastifyPluginAsyncTypebox<{
  recovery: RecoveryService
}> = async (app, { recovery }) => {
  const tags = [usersTag.name]
  hookEveryRoute(app, { onRequest: app.authenticate, preHandler: app.requireAdmin })

  app.post(
    '/:id/password-reset',
    {
      schema: {
        tags,
        operationId: 'sendUserPasswordReset',
        summary: "Mail a reset link to the user's verified address",
        params: UserParams,
        response: { 202: ResetRequested },
        problems: { 409: 'The user has no verified email address' },
      },
    },
    async (request, reply) => {
      await recovery.adminSendReset(callerOf(request).principal.id, request.params.id)
      return reply.code(202).send({ status: 'sent' })
    },
  )

  app.put(
    '/:id/password',
    {
      schema: {
        tags,
        operationId: 'setUserPassword',
        summary: "Set a user's password: every session of the user ends",
        params: UserParams,
        body: PasswordSetBody,
        response: { 204: NoContent },
        problems: { 400: 'The new password is too short or too common' },
      },
    },
    async (request, reply) => {
      await recovery.adminSetPassword(
        callerOf(request).principal.id,
        request.params.id,
        request.body.new_password,
      )
      return reply.code(204).send(null)
    },
  )
}
