import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authTag } from '../auth/auth.routes.js'
import { TokenPair } from '../auth/auth.schemas.js'
import { clientInfo } from '../auth/client-info.js'
import { profileTag } from '../auth/profile.routes.js'
import { callerOf } from '../core/caller.js'
import { hookEveryRoute } from '../core/route-docs.js'
import { NoContent } from '../core/schemas.js'
import {
  CodeBody,
  MfaLoginBody,
  RecoveryCodes,
  TotpDisableBody,
  TotpSetUp,
  TotpSetUpBody,
} from './mfa.schemas.js'
import type { MfaService } from './mfa.service.js'

const WRONG_CODE = 'The code is wrong or was already used'
const GUESSING = 'Too many wrong passwords or codes for this account or from this client'

/** The caller's two-factor login: set-up, confirmation, recovery codes, turning it off. */
export const mfaProfileRoutes: FastifyPluginAsyncTypebox<{ mfa: MfaService }> = async (
  app,
  { mfa },
) => {
  hookEveryRoute(app, { onRequest: app.authenticate })
  const tags = [profileTag.name]

  app.post(
    '/mfa/totp',
    {
      schema: {
        tags,
        operationId: 'startTotpSetUp',
        summary: 'Start setting up an authenticator app: its secret, pending until confirmed',
        description:
          'The only answer that holds the secret. Starting again replaces a pending set-up.',
        body: TotpSetUpBody,
        response: { 200: TotpSetUp },
        problems: {
          401: 'The password is wrong',
          409: 'Two-factor login is already on',
          429: GUESSING,
        },
      },
    },
    async (request) =>
      mfa.startSetUp(callerOf(request), request.body.password, clientInfo(request)),
  )

  app.post(
    '/mfa/totp/confirm',
    {
      schema: {
        tags,
        operationId: 'confirmTotp',
        summary: 'Turn two-factor login on with a first code: ten recovery codes, shown once',
        description: 'Every other session of the user ends.',
        body: CodeBody,
        response: { 200: RecoveryCodes },
        problems: {
          400: `${WRONG_CODE}, or no set-up is pending`,
          409: 'Already on',
          429: GUESSING,
        },
      },
    },
    async (request) => mfa.confirm(callerOf(request), request.body.code, clientInfo(request)),
  )

  app.delete(
    '/mfa/totp',
    {
      schema: {
        tags,
        operationId: 'disableTotp',
        summary: 'Turn two-factor login off (password and a code or recovery code)',
        body: TotpDisableBody,
        response: { 204: NoContent },
        problems: {
          400: `${WRONG_CODE}, or two-factor login is off`,
          401: 'The password is wrong',
          429: GUESSING,
        },
      },
    },
    async (request, reply) => {
      const { password, code } = request.body
      await mfa.disable(callerOf(request), password, code, clientInfo(request))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/mfa/recovery-codes',
    {
      schema: {
        tags,
        operationId: 'regenerateRecoveryCodes',
        summary: 'A new set of ten recovery codes; the old set stops working',
        body: CodeBody,
        response: { 200: RecoveryCodes },
        problems: { 400: `${WRONG_CODE}, or two-factor login is off`, 429: GUESSING },
      },
    },
    async (request) =>
      mfa.regenerateRecoveryCodes(callerOf(request), request.body.code, clientInfo(request)),
  )
}

/** `POST /api/v1/auth/login/mfa`: the second step of a login with two-factor on. */
export const mfaAuthRoutes: FastifyPluginAsyncTypebox<{ mfa: MfaService }> = async (
  app,
  { mfa },
) => {
  app.post(
    '/login/mfa',
    {
      schema: {
        tags: [authTag.name],
        operationId: 'loginMfa',
        summary: 'Finish a login with two-factor on: the mfa_token and a code give the tokens',
        description:
          'A current TOTP code (one step early or late is taken; never the same code twice) or an unused recovery code. An mfa_token lasts 5 minutes and ends after 5 wrong codes.',
        body: MfaLoginBody,
        response: { 200: TokenPair },
        problems: {
          401: `${WRONG_CODE}, or the mfa_token is spent, expired or failed 5 times`,
          429: GUESSING,
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      return mfa.login(request.body.mfa_token, request.body.code, clientInfo(request))
    },
  )
}
