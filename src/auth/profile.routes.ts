import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { callerOf } from '../core/caller.js'
import { notModified, preconditionsOf, withEtag } from '../core/conditional.js'
import type { IdempotencyHooks } from '../core/idempotency.js'
import { NoContent, problems, userSecurity } from '../core/schemas.js'
import { User } from '../users/users.schemas.js'
import type { UsersService } from '../users/users.service.js'
import type { AccountsService } from './accounts.service.js'
import type { ApiKeysService } from './api-keys.service.js'
import {
  ApiKeyBody,
  ApiKeyList,
  IdParams,
  NewApiKey,
  PasswordChangeBody,
  ProfilePatch,
  SessionList,
} from './auth.schemas.js'
import { clientInfo } from './client-info.js'
import type { SessionsService } from './sessions.service.js'

export interface ProfileRoutesOptions {
  accounts: AccountsService
  sessions: SessionsService
  apiKeys: ApiKeysService
  users: UsersService
  idempotency: IdempotencyHooks
}

/** The caller's own account: profile, password, sessions and API keys. */
export const profileRoutes: FastifyPluginAsyncTypebox<ProfileRoutesOptions> = async (
  app,
  { accounts, sessions, apiKeys, users, idempotency },
) => {
  app.addHook('onRequest', app.authenticate)
  const security = userSecurity
  const tags = ['profile']

  app.get(
    '/',
    {
      schema: {
        tags,
        security,
        summary: 'The caller',
        response: { 200: User, 401: problems[401] },
      },
    },
    async (request, reply) => {
      const user = await users.get(callerOf(request).principal.id)
      if (notModified(request, reply, user)) return reply
      return user
    },
  )

  app.patch(
    '/',
    {
      schema: {
        tags,
        security,
        summary: "Change the caller's name",
        body: ProfilePatch,
        response: { 200: User, 400: problems[400], 401: problems[401], 412: problems[412] },
      },
    },
    async (request, reply) => {
      const user = await users.update(
        callerOf(request).principal.id,
        request.body,
        preconditionsOf(request),
      )
      return withEtag(reply, user)
    },
  )

  app.post(
    '/password',
    {
      schema: {
        tags,
        security,
        summary: 'Change password; every other session ends',
        body: PasswordChangeBody,
        response: { 204: NoContent, 400: problems[400], 401: problems[401], 429: problems[429] },
      },
    },
    async (request, reply) => {
      await accounts.changePassword(
        callerOf(request),
        request.body.current_password,
        request.body.new_password,
        clientInfo(request),
      )
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/sessions',
    {
      schema: {
        tags,
        security,
        summary: "The caller's live sessions (refresh families)",
        response: { 200: SessionList, 401: problems[401] },
      },
    },
    async (request) => ({ items: await sessions.list(callerOf(request)) }),
  )

  app.delete(
    '/sessions',
    {
      schema: {
        tags,
        security,
        summary: 'End every session but the current one',
        response: { 204: NoContent, 401: problems[401] },
      },
    },
    async (request, reply) => {
      await sessions.endOthers(callerOf(request))
      return reply.code(204).send(null)
    },
  )

  app.delete(
    '/sessions/:id',
    {
      schema: {
        tags,
        security,
        summary: 'End one session, its access tokens included',
        params: IdParams,
        response: { 204: NoContent, 401: problems[401], 404: problems[404] },
      },
    },
    async (request, reply) => {
      await sessions.end(callerOf(request), request.params.id)
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/api-keys',
    {
      preHandler: idempotency.preHandler,
      onSend: idempotency.onSend,
      schema: {
        tags,
        security,
        summary: 'Create an API key; `key` is shown only in this answer',
        body: ApiKeyBody,
        response: { 201: NewApiKey, 400: problems[400], 401: problems[401] },
      },
    },
    async (request, reply) => {
      const created = await apiKeys.create(callerOf(request), request.body)
      reply.header('location', `/api/v1/profile/api-keys/${created.id}`)
      return reply.code(201).send(created)
    },
  )

  app.get(
    '/api-keys',
    {
      schema: {
        tags,
        security,
        summary: "The caller's API keys, without the keys",
        response: { 200: ApiKeyList, 401: problems[401] },
      },
    },
    async (request) => ({ items: await apiKeys.list(callerOf(request)) }),
  )

  app.delete(
    '/api-keys/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Revoke an API key at once',
        params: IdParams,
        response: { 204: NoContent, 401: problems[401], 404: problems[404] },
      },
    },
    async (request, reply) => {
      await apiKeys.delete(callerOf(request), request.params.id)
      return reply.code(204).send(null)
    },
  )
}
