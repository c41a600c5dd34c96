import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { callerOf } from '../core/caller.js'
import { notModified, preconditionsOf, withEtag } from '../core/conditional.js'
import { setNextLink } from '../core/pagination.js'
import { NoContent, problems, userSecurity } from '../core/schemas.js'
import { User, UserListQuery, UserPage, UserParams, UserPatch } from './users.schemas.js'
import type { UsersService } from './users.service.js'

/** Admin-only management of accounts. */
export const usersRoutes: FastifyPluginAsyncTypebox<{ users: UsersService }> = async (
  app,
  { users },
) => {
  app.addHook('onRequest', app.authenticate)
  app.addHook('preHandler', app.requireAdmin)
  const tags = ['users']
  const security = userSecurity

  app.get(
    '/',
    {
      schema: {
        tags,
        security,
        summary: 'List users (`q` matches username or name)',
        querystring: UserListQuery,
        response: { 200: UserPage, 400: problems[400], 401: problems[401], 403: problems[403] },
      },
    },
    async (request, reply) => {
      const page = await users.list(request.query)
      setNextLink(request, reply, page.next_cursor)
      return page
    },
  )

  app.get(
    '/:id',
    {
      schema: {
        tags,
        security,
        summary: 'One user',
        params: UserParams,
        response: { 200: User, 401: problems[401], 403: problems[403], 404: problems[404] },
      },
    },
    async (request, reply) => {
      const user = await users.get(request.params.id)
      if (notModified(request, reply, user)) return reply
      return user
    },
  )

  app.patch(
    '/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Rename, change role, disable or enable; the last admin stays an admin (409)',
        params: UserParams,
        body: UserPatch,
        response: {
          200: User,
          400: problems[400],
          401: problems[401],
          403: problems[403],
          404: problems[404],
          409: problems[409],
          412: problems[412],
        },
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
        security,
        summary: 'Delete a user, their todos with them',
        params: UserParams,
        response: {
          204: NoContent,
          401: problems[401],
          403: problems[403],
          404: problems[404],
          409: problems[409],
          412: problems[412],
        },
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
