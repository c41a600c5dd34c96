import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { type CursorCodec, pageById, setNextLink } from '../core/pagination.js'
import type { AuditLog } from './audit.repository.js'
import { AuditPage, AuditQuery, toAuditEvent } from './audit.schemas.js'

/** This file's group of operations in the OpenAPI document. */
export const auditTag = {
  name: 'audit',
  description:
    'Security events (logins, logouts, password and role changes, token reuse, API-key use), for admins',
}

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
        tags: [auditTag.name],
        operationId: 'listAuditEvents',
        summary: 'Security events, newest first (`kind`, `actor_id` filter)',
        querystring: AuditQuery,
        response: { 200: AuditPage },
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
