import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { type CursorCodec, PageQuery, pageById, setNextLink } from '../core/pagination.js'
import { problems, userSecurity } from '../core/schemas.js'
import type { AuditLog } from './audit.repository.js'
import type { AuditEventRow } from './audit.table.js'

const AuditEvent = Type.Object({
  id: Type.String(),
  at: Type.String({ format: 'date-time' }),
  kind: Type.String(),
  actor_id: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.String()),
})

const AuditQuery = Type.Object({
  ...PageQuery,
  kind: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  actor_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
})

function toAuditEvent(row: AuditEventRow) {
  return {
    id: row.id,
    at: row.at,
    kind: row.kind,
    actor_id: row.actor_id,
    detail: JSON.parse(row.detail) as Record<string, string>,
  }
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
        tags: ['audit'],
        security: userSecurity,
        summary: 'Security events, newest first (`kind`, `actor_id` filter)',
        querystring: AuditQuery,
        response: {
          200: Type.Object({
            items: Type.Array(AuditEvent),
            next_cursor: Type.Union([Type.String(), Type.Null()]),
          }),
          400: problems[400],
          401: problems[401],
          403: problems[403],
        },
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
