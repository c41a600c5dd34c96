import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { callerOf } from '../core/caller.js'
import { orNotModified, preconditionsOf, withEtag } from '../core/conditional.js'
import type { IdempotencyHooks } from '../core/idempotency.js'
import { withNextLink } from '../core/pagination.js'
import { hookEveryRoute } from '../core/route-docs.js'
import { NoContent, NotModified } from '../core/schemas.js'
import { User } from '../users/users.schemas.js'
import type { UsersService } from '../users/users.service.js'
import type { AccountsService } from './accounts.service.js'
import type { ApiKeysService } from './api-keys.service.js'
import {
  ApiKey,
  ApiKeyBody,
  ApiKeyListQuery,
  ApiKeyPage,
  IdParams,
  NewApiKey,
  PasswordChangeBody,
  ProfilePatch,
  SessionListQuery,
  SessionPage,
} from './auth.schemas.js'
import { clientInfo } from './client-info.js'
import type { SessionsService } from './sessions.service.js'

/** This file's group of operations in the OpenAPI document. */
export const profileTag = {
  name: 'profile',
  description:
    "The caller's own account: profile, password, sessions (refresh families) and API keys",
}

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
  // Every route here is the caller's own account.
  hookEveryRoute(app, { onRequest: app.authenticate })
  const tags = [profileTag.name]

  app.get(
    '/',
    {
      schema: {
        tags,
        operationId: 'getProfile',
        summary: 'The caller',
        response: { 200: User, 304: NotModified },
      },
    },
    async (request, reply) =>
      orNotModified(request, reply, await users.get(callerOf(request).principal.id)),
  )

  app.patch(
    '/',
    {
      schema: {
        tags,
        operationId: 'updateProfile',
        summary:
          "Change the caller's name or email address (a new address is mailed a verification link)",
        body: ProfilePatch,
        response: { 200: User },
        problems: { 412: 'The profile has changed since it was read (If-Match)' },
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
        operationId: 'changePassword',
        summary: 'Change password; every other session ends',
        body: PasswordChangeBody,
        response: { 204: NoContent },
        problems: {
          400: 'The new password is too short or too common',
          401: '`current_password` is wrong',
          429: 'Too many wrong current passwords',
        },
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
        operationId: 'listSessions',
        summary: "The caller's live sessions (refresh families), newest first",
        querystring: SessionListQuery,
        response: { 200: SessionPage },
      },
    },
    async (request, reply) =>
      withNextLink(request, reply, await sessions.list(callerOf(request), request.query)),
  )

  app.delete(
    '/sessions',
    {
      schema: {
        tags,
        operationId: 'endOtherSessions',
        summary: 'End every session but the current one',
        response: { 204: NoContent },
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
        operationId: 'endSession',
        summary: 'End one session, its access tokens included',
        params: IdParams,
        response: { 204: NoContent },
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
        operationId: 'createApiKey',
        summary: 'Create an API key; `key` is shown only in this answer',
        body: ApiKeyBody,
        response: { 201: NewApiKey },
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
        operationId: 'listApiKeys',
        summary: "The caller's API keys, without the keys, newest first",
        querystring: ApiKeyListQuery,
        response: { 200: ApiKeyPage },
      },
    },
    async (request, reply) =>
      withNextLink(request, reply, await apiKeys.list(callerOf(request), request.query)),
  )

  app.get(
    '/api-keys/:id',
    {
      schema: {
        tags,
        operationId: 'getApiKey',
        summary: "One of the caller's API keys, without the key",
        params: IdParams,
        response: { 200: ApiKey, 304: NotModified },
      },
    },
    async (request, reply) =>
      orNotModified(request, reply, await apiKeys.get(callerOf(request), request.params.id)),
  )

  app.delete(
    '/api-keys/:id',
    {
      schema: {
        tags,
        operationId: 'deleteApiKey',
        summary: 'Revoke an API key at once',
        params: IdParams,
        response: { 204: NoContent },
        problems: { 412: 'The key has changed since it was read (If-Match)' },
      },
    },
    async (request, reply) => {
      await apiKeys.delete(callerOf(request), request.params.id, preconditionsOf(request))
      return reply.code(204).send(null)
    },
  )
}
