import type { Selectable } from 'kysely'

export interface AuditEventsTable {
  id: string
  at: string
  kind: string
  actor_id: string | null
  /** JSON object, flat string values. */
  detail: string
}

export type AuditEventRow = Selectable<AuditEventsTable>
