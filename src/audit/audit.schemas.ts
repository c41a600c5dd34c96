import { type Static, Type } from '@sinclair/typebox'
import { PageQuery } from '../core/pagination.js'
import type { AuditEventRow } from './audit.table.js'

export const AuditEvent = Type.Object(
  {
    id: Type.String(),
    at: Type.String({ format: 'date-time' }),
    kind: Type.String(),
    actor_id: Type.Union([Type.String(), Type.Null()]),
    detail: Type.Record(Type.String(), Type.String()),
  },
  { title: 'AuditEvent' },
)
export type AuditEvent = Static<typeof AuditEvent>

export const AuditPage = Type.Object(
  {
    items: Type.Array(AuditEvent),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  },
  { title: 'AuditPage' },
)

export const AuditQuery = Type.Object({
  ...PageQuery,
  kind: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  actor_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
})

export function toAuditEvent(row: AuditEventRow): AuditEvent {
  return {
    id: row.id,
    at: row.at,
    kind: row.kind,
    actor_id: row.actor_id,
    detail: JSON.parse(row.detail) as Record<string, string>,
  }
}
