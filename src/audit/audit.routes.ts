import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { type CursorCodec, pageById, setNextLink } from '../core/pagination.js'
import { problems, userSecurity } from '../core/schemas.js'
import type { AuditLog } from './audit.repository.js'
import { AuditPage, AuditQuery, toAuditEvent } from './audit.schemas.js'

export const auditRoutes: FastifyPluginAsyncTypebox<{
  audit: AuditLog
  cursors: CursorCodec
}> = async (app, { audit, cursors }) => {
  app.get(
    '/',
    {
      onRequest: app.authenticate,
      preHandler: app.requireAdmin,
      schema: {
        tags: ['audit'],
        security: userSecurity,
        summary: 'Security events, newest first (`kind`, `actor_id` filter)',
        querystring: AuditQuery,
        response: { 200: AuditPage, 400: problems[400], 401: problems[401], 403: problems[403] },
      },
    },
    async (request, reply) => {
      const { limit, cursor, kind, actor_id } = request.query
      const page = await pageById(
        cursors,
        { limit, cursor },
        (before) => audit.list({ limit, before, kind, actorId: actor_id }),
        toAuditEvent,
      )
      setNextLink(request, reply, page.next_cursor)
      return page
    },
  )
}
