import { createHash } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { preHandlerAsyncHookHandler } from 'fastify'
import { authTag } from '../auth/auth.routes.js'
import type { CounterStore } from '../auth/credential-counters.js'
import { profileTag } from '../auth/profile.routes.js'
import { callerOf } from '../core/caller.js'
import { clientKey } from '../core/caller-key.js'
import { AppError } from '../core/errors.js'
import { hookEveryRoute } from '../core/route-docs.js'
import { NoContent } from '../core/schemas.js'
import { usersTag } from '../users/users.routes.js'
import { normaliseEmail, User, UserParams } from '../users/users.schemas.js'
import {
  EmailVerifyBody,
  PasswordResetBody,
  PasswordResetConfirmBody,
  PasswordSetBody,
  ResetRequested,
} from './recovery.schemas.js'
import type { RecoveryService } from './recovery.service.js'

const INVALID_LINK = 'The token is invalid, has expired or was already used'

const RESETS_PER_LOGIN_HOUR = 3
const HOUR_MS = 3_600_000

/**
 * The per-account limit on reset requests (3 an hour, API.md §8), as a preHandler. It counts
 * what was typed rather than the account it names, so a 429 says nothing about whether an
 * account exists; the service also mails one account at most 3 links an hour, whichever of its
 * names asked. Its own counter, beside the route's per-address limit: @fastify/rate-limit runs
 * one limit per request. In Redis when instances share limits (the credential guard's store).
 */
export function resetLoginLimit(store: CounterStore): preHandlerAsyncHookHandler {
  return async (request) => {
    const { login } = request.body as PasswordResetBody
    const key = `reset-login:${createHash('sha256').update(normaliseEmail(login)).digest('base64url')}`
    const { counts } = await store.add([{ key, windowMs: HOUR_MS }], 1)
    const count = counts[0] ?? { count: 0, msLeft: 0 }
    if (count.count > RESETS_PER_LOGIN_HOUR) {
      const seconds = Math.max(1, Math.ceil(count.msLeft / 1000))
      throw new AppError('RATE_LIMITED', `Rate limit exceeded; retry in ${seconds} seconds`, {
        headers: { 'retry-after': String(seconds) },
      })
    }
  }
}

/** `POST /api/v1/auth/password-reset` and its confirmation; no credentials. */
export const recoveryAuthRoutes: FastifyPluginAsyncTypebox<{
  recovery: RecoveryService
  /** The per-login limit (`resetLoginLimit`), when rate limits are on. */
  loginLimit: preHandlerAsyncHookHandler | undefined
}> = async (app, { recovery, loginLimit }) => {
  const tags = [authTag.name]
  app.post(
    '/password-reset',
    {
      config: {
        rateLimit: { max: 5, timeWindow: '1 hour', keyGenerator: clientKey('password-reset') },
      },
      ...(loginLimit === undefined ? {} : { preHandler: loginLimit }),
      schema: {
        tags,
        operationId: 'requestPasswordReset',
        summary: 'Mail a reset link to the verified address of an account',
        description:
          'The answer is the same, and takes about as long, whether or not the account exists or has a verified address; only a verified address is mailed.',
        body: PasswordResetBody,
        response: { 202: ResetRequested },
        problems: {
          429: 'More than 5 requests an hour from this client, or 3 an hour for this login',
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
