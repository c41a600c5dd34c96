import type { Kysely } from 'kysely'
import { uuidv7 } from 'uuidv7'
import type { Database } from '../database.js'
import type { AuditEventRow } from './audit.table.js'

export type AuditKind =
  | 'login.success'
  | 'login.failure'
  | 'logout'
  | 'password.change'
  | 'role.change'
  | 'user.disable'
  | 'user.enable'
  | 'user.delete'
  | 'refresh.reuse'
  | 'session.revoke'
  | 'api_key.create'
  | 'api_key.revoke'
  | 'api_key.use'
  | 'email.verify'
  | 'password.reset.request'
  | 'password.reset'
  | 'password.set_by_admin'
  | 'user.create'
  | 'subscribers.import'
  | 'database.restore'
  | 'mfa.enable'
  | 'mfa.disable'
  | 'mfa.failure'
  | 'mfa.recovery_code'
  | 'keys.rotate'

export type AuditLog = ReturnType<typeof createAuditLog>

/**
 * The actor of a change made from the command line (src/cli): no account, and never a user's
 * id (those are UUIDs), so `GET /api/v1/audit?actor_id=cli` finds them.
 */
export const CLI_ACTOR = 'cli'

/**
 * Security events, never with a secret in them. Made on a transaction (`createAuditLog(trx)`),
 * the event commits with the change it describes.
 */
export function createAuditLog(db: Kysely<Database>) {
  return {
    async record(
      kind: AuditKind,
      actorId: string | null,
      detail: Record<string, string> = {},
    ): Promise<void> {
      await db
        .insertInto('audit_events')
        .values({
          id: uuidv7(),
          at: new Date().toISOString(),
          kind,
          actor_id: actorId,
          detail: JSON.stringify(detail),
        })
        .execute()
    },
    /** Newest first: UUIDv7 ids order as time does. */
    list(options: {
      limit: number
      before: string | null
      kind: string | undefined
      actorId: string | undefined
    }): Promise<AuditEventRow[]> {
      let query = db
        .selectFrom('audit_events')
        .selectAll()
        .orderBy('id', 'desc')
        .limit(options.limit + 1)
      if (options.before !== null) query = query.where('id', '<', options.before)
      if (options.kind !== undefined) query = query.where('kind', '=', options.kind)
      if (options.actorId !== undefined) query = query.where('actor_id', '=', options.actorId)
      return query.execute()
    },
  }
}
