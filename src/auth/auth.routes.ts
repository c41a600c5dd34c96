import formBody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { callerOf } from '../core/caller.js'
import { clientKey } from '../core/caller-key.js'
import { withEtag } from '../core/conditional.js'
import type { IdempotencyHooks } from '../core/idempotency.js'
import { NoContent } from '../core/schemas.js'
import { User } from '../users/users.schemas.js'
import type { AccountsService } from './accounts.service.js'
import {
  LoginBody,
  LogoutBody,
  MfaRequired,
  RefreshBody,
  RegisterBody,
  TokenPair,
} from './auth.schemas.js'
import { clientInfo } from './client-info.js'
import type { SessionsService } from './sessions.service.js'

/** This file's group of operations in the OpenAPI document. */
export const authTag = {
  name: 'auth',
  description:
    'Register, log in (JSON or form), rotate refresh tokens and log out. Access tokens last ACCESS_TOKEN_TTL (15 min by default); a refresh token is single use',
}

export interface AuthRoutesOptions {
  accounts: AccountsService
  sessions: SessionsService
  idempotency: IdempotencyHooks
}

export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (
  app,
  { accounts, sessions, idempotency },
) => {
  app.post(
    '/register',
    {
      config: {
        rateLimit: {
          max: 20,
          timeWindow: '1 hour',
          keyGenerator: clientKey('register'),
        },
      },
      preHandler: idempotency.preHandler,
      onSend: idempotency.onSend,
      schema: {
        tags: [authTag.name],
        operationId: 'register',
        summary: 'Create an account (role user)',
        body: RegisterBody,
        response: { 201: User },
        problems: {
          400: 'The password is too short or too common',
          409: 'The username is taken',
          429: 'More than 20 registrations an hour from this client',
        },
      },
    },
    async (request, reply) => {
      const user = await accounts.register(request.body)
      reply.header('location', `/api/v1/users/${user.id}`).header('cache-control', 'no-store')
      return reply.code(201).send(withEtag(reply, user))
    },
  )

  // Login also takes HTML-form bodies, as the tutorials' login forms post them; only here. The
  // limit fits the longest password: 1024 characters of 4 UTF-8 bytes, each percent-encoded.
  await app.register(async (plugin) => {
    const login = plugin.withTypeProvider<TypeBoxTypeProvider>()
    await login.register(formBody, { bodyLimit: 16_384 })
    login.post(
      '/login',
      {
        schema: {
          tags: [authTag.name],
          operationId: 'login',
          summary: 'Exchange username and password for tokens (JSON or form body)',
          description:
            'With two-factor login on, a right password answers `mfa_required` and an `mfa_token` instead of tokens: send it with a code to POST /api/v1/auth/login/mfa.',
          consumes: ['application/json', 'application/x-www-form-urlencoded'],
          body: LoginBody,
          response: { 200: Type.Union([TokenPair, MfaRequired], { title: 'LoginResult' }) },
          problems: {
            401: 'Invalid username or password',
            429: 'Too many failed logins for this account or from this client',
          },
        },
      },
      async (request, reply) => {
        reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
        return sessions.login(request.body, clientInfo(request))
      },
    )
  })

  app.post(
    '/refresh',
    {
      schema: {
        tags: [authTag.name],
        operationId: 'refresh',
        summary: 'Rotate a refresh token: a new pair; the old token is spent',
        body: RefreshBody,
        response: { 200: TokenPair },
        problems: {
          401: 'The refresh token is unknown, expired or already used (reuse ends its session)',
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
      return sessions.refresh(request.body.refresh_token, clientInfo(request))
    },
  )

  app.post(
    '/logout',
    {
      onRequest: app.authenticate,
      schema: {
        tags: [authTag.name],
        operationId: 'logout',
        summary: 'End this session: the access token and its refresh family stop working',
        description:
          "With an API key: 400 (an API key ends only by DELETE). Basic credentials have no session: 204, ending only the caller's session that `refresh_token` names, if any.",
        body: LogoutBody,
        response: { 204: NoContent },
        problems: {
          400: 'No session to end (called with an API key)',
        },
      },
    },
    async (request, reply) => {
      await sessions.logout(callerOf(request), request.body?.refresh_token)
      return reply.code(204).send(null)
    },
  )
}
