import { type Kysely, sql } from 'kysely'
import { uuidv7 } from 'uuidv7'
import type { DialectName } from '../core/db.js'
import type { Database } from '../database.js'
import type { OutboxRow } from './outbox.table.js'

export type OutboxRepository = ReturnType<typeof createOutboxRepository>

/** The outbox: every mail is a row, written in the transaction of the change that causes it. */
export function createOutboxRepository(
  db: Kysely<Database>,
  options: { messageIdHost: string; dialect: DialectName },
) {
  const { messageIdHost } = options
  return {
    /** A one-off mail (confirmation, notice), rendered now; `db` may be a transaction. */
    async enqueueMail(
      mail: { name: string; email: string; subject: string; text: string },
      now: string,
    ): Promise<void> {
      const id = uuidv7()
      await db
        .insertInto('outbox')
        .values({
          id,
          kind: 'transactional',
          campaign_id: null,
          subscriber_id: null,
          recipient_name: mail.name,
          recipient_email: mail.email,
          message_id: `<${id}@${messageIdHost}>`,
          payload: JSON.stringify({ subject: mail.subject, text: mail.text }),
          status: 'pending',
          attempts: 0,
          next_attempt_at: now,
          lease_until: null,
          last_error: null,
          created_at: now,
          sent_at: null,
        })
        .execute()
    },

    /**
     * Claims up to `limit` due rows by pushing their due time to the end of a lease: a
     * worker that dies leaves them due again once the lease runs out. On PostgreSQL the
     * rows are locked with SKIP LOCKED, so two instances claiming at once take different
     * rows instead of one waiting for the other; SQLite has a single writer. (Repeating the
     * due conditions on the outer UPDATE made SQLite walk the whole due index for every
     * claim: about 20 ms at 100,000 queued mails, on the event loop.)
     */
    claim(limit: number, now: string, leaseUntil: string): Promise<OutboxRow[]> {
      let due = db
        .selectFrom('outbox')
        .select('id')
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .orderBy('next_attempt_at')
        .limit(limit)
      if (options.dialect === 'postgres') due = due.forUpdate().skipLocked()
      return db
        .updateTable('outbox')
        .set({
          next_attempt_at: leaseUntil,
          lease_until: leaseUntil,
          attempts: sql<number>`attempts + 1`,
        })
        .where('id', 'in', due)
        .returningAll()
        .execute()
    },

    /** Gives claimed rows back (graceful stop), so they need not wait out the lease. */
    async release(ids: readonly string[], now: string): Promise<void> {
      if (ids.length === 0) return
      await db
        .updateTable('outbox')
        .set({ next_attempt_at: now, lease_until: null, attempts: sql<number>`attempts - 1` })
        .where('id', 'in', [...ids])
        .where('status', '=', 'pending')
        .execute()
    },

    async markSent(ids: readonly string[], now: string): Promise<void> {
      if (ids.length === 0) return
      await db
        .updateTable('outbox')
        // The rendered text (which may hold a confirmation link) is not kept once delivered.
        .set({ status: 'sent', sent_at: now, lease_until: null, payload: '', last_error: null })
        .where('id', 'in', [...ids])
        .execute()
    },

    async retryLater(id: string, at: string, error: string): Promise<void> {
      await db
        .updateTable('outbox')
        .set({ next_attempt_at: at, lease_until: null, last_error: error })
        .where('id', '=', id)
        .execute()
    },

    async markFailed(id: string, error: string): Promise<void> {
      await db
        .updateTable('outbox')
        .set({ status: 'failed', lease_until: null, last_error: error, payload: '' })
        .where('id', '=', id)
        .execute()
    },
  }
}

/** How much mail waits: what the metrics report (src/metrics). */
export interface OutboxDepth {
  /** Each at most the bound it was counted to. */
  readonly pending: number
  readonly failed: number
  /** When the oldest mail not yet sent was queued (RFC 3339), or null when none waits. */
  readonly oldestPendingAt: string | null
}

/**
 * Counts read from indexes only, each stopped at `bound` rows so that no queue, however long,
 * makes one reading slow; the oldest pending mail is the first entry of its partial index
 * (migration 012). Sent mail is not counted: it only grows, and counting it would walk it all.
 */
export async function readOutboxDepth(
  db: Kysely<Database>,
  dialect: DialectName,
  bound: number,
): Promise<OutboxDepth> {
  const countOf = async (status: 'pending' | 'failed') => {
    const rows = db
      .selectFrom('outbox')
      .select(sql<number>`1`.as('one'))
      .where('status', '=', status)
      .limit(bound)
      .as('rows')
    const { count } = await db
      .selectFrom(rows)
      .select((eb) => eb.fn.countAll<number | string>().as('count'))
      .executeTakeFirstOrThrow()
    // PostgreSQL's count is a bigint, which pg hands over as a string.
    return Number(count)
  }
  // SQLite's planner takes the (status, next_attempt_at) index for this and reads every pending
  // row (80 ms at 100,000); named, the partial index answers from its first entry (0.03 ms).
  const oldest =
    dialect === 'sqlite'
      ? sql<{
          at: string | null
        }>`select min(created_at) as at from outbox indexed by outbox_pending_created_idx where status = 'pending'`
          .execute(db)
          .then((result) => result.rows[0])
      : db
          .selectFrom('outbox')
          .select((eb) => eb.fn.min('created_at').as('at'))
          .where('status', '=', 'pending')
          .executeTakeFirst()
  const [pending, failed, first] = await Promise.all([
    countOf('pending'),
    countOf('failed'),
    oldest,
  ])
  return { pending, failed, oldestPendingAt: first?.at ?? null }
}
