import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { callerOf } from '../core/caller.js'
import { orNotModified, preconditionsOf, withEtag } from '../core/conditional.js'
import { withNextLink } from '../core/pagination.js'
import { hookEveryRoute } from '../core/route-docs.js'
import { NoContent, NotModified } from '../core/schemas.js'
import { User, UserListQuery, UserPage, UserParams, UserPatch } from './users.schemas.js'
import type { UsersService } from './users.service.js'

/** This file's group of operations in the OpenAPI document. */
export const usersTag = {
  name: 'users',
  description: 'Accounts, for admins: list and search, rename, change role, disable, delete',
}

const LAST_ADMIN = 'The last active admin cannot be demoted, disabled or deleted'
const CHANGED = 'The user has changed since it was read (If-Match)'

/** Admin-only management of accounts. */
export const usersRoutes: FastifyPluginAsyncTypebox<{ users: UsersService }> = async (
  app,
  { users },
) => {
  const tags = [usersTag.name]
  // Admins only, every route: a new one cannot forget it.
  hookEveryRoute(app, { onRequest: app.authenticate, preHandler: app.requireAdmin })

  app.get(
    '/',
    {
      schema: {
        tags,
        operationId: 'listUsers',
        summary: 'List users (`q` matches username or name)',
        querystring: UserListQuery,
        response: { 200: UserPage },
      },
    },
    async (request, reply) => withNextLink(request, reply, await users.list(request.query)),
  )

  app.get(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'getUser',
        summary: 'One user',
        params: UserParams,
        response: { 200: User, 304: NotModified },
      },
    },
    async (request, reply) => orNotModified(request, reply, await users.get(request.params.id)),
  )

  app.patch(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'updateUser',
        summary: 'Rename, change role, disable or enable; the last admin stays an admin (409)',
        params: UserParams,
        body: UserPatch,
        response: { 200: User },
        problems: { 409: LAST_ADMIN, 412: CHANGED },
      },
    },
    async (request, reply) => {
      const user = await users.adminUpdate(
        callerOf(request).principal.id,
        request.params.id,
        request.body,
        preconditionsOf(request),
      )
      return withEtag(reply, user)
    },
  )

  app.delete(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'deleteUser',
        summary: 'Delete a user, their todos with them',
        params: UserParams,
        response: { 204: NoContent },
        problems: { 409: LAST_ADMIN, 412: CHANGED },
      },
    },
    async (request, reply) => {
      await users.delete(
        callerOf(request).principal.id,
        request.params.id,
        preconditionsOf(request),
      )
      return reply.code(204).send(null)
    },
  )
}
