import formBody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { callerOf } from '../core/caller.js'
import { clientKey } from '../core/caller-key.js'
import type { IdempotencyHooks } from '../core/idempotency.js'
import { NoContent, problems, userSecurity } from '../core/schemas.js'
import { User } from '../users/users.schemas.js'
import type { AccountsService } from './accounts.service.js'
import { LoginBody, LogoutBody, RefreshBody, RegisterBody, TokenPair } from './auth.schemas.js'
import { clientInfo } from './client-info.js'
import type { SessionsService } from './sessions.service.js'

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
        tags: ['auth'],
        summary: 'Create an account (role user)',
        body: RegisterBody,
        response: { 201: User, 400: problems[400], 409: problems[409], 429: problems[429] },
      },
    },
    async (request, reply) => {
      const user = await accounts.register(request.body)
      reply.header('location', `/api/v1/users/${user.id}`).header('cache-control', 'no-store')
      return reply.code(201).send(user)
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
          tags: ['auth'],
          summary: 'Exchange username and password for tokens (JSON or form body)',
          body: LoginBody,
          response: { 200: TokenPair, 400: problems[400], 401: problems[401], 429: problems[429] },
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
        tags: ['auth'],
        summary: 'Rotate a refresh token: a new pair; the old token is spent',
        body: RefreshBody,
        response: { 200: TokenPair, 400: problems[400], 401: problems[401] },
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
        tags: ['auth'],
        summary: 'End this session: the access token and its refresh family stop working',
        description:
          'With an API key: 400 (an API key ends only by DELETE). Basic credentials have no session: 400 unless `refresh_token` names a live session of the caller, which then ends.',
        security: userSecurity,
        body: LogoutBody,
        response: { 204: NoContent, 400: problems[400], 401: problems[401] },
      },
    },
    async (request, reply) => {
      await sessions.logout(callerOf(request), request.body?.refresh_token)
      return reply.code(204).send(null)
    },
  )
}
