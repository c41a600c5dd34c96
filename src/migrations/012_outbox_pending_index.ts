import { type Kysely, sql } from 'kysely'

// The outbox's pending mails by age, for the metrics (gatehouse_outbox_oldest_pending_seconds
// and the pending count): partial, so it holds only mail not yet sent and stays as small as the
// queue however many sent rows pile up; the oldest is its first entry.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('outbox_pending_created_idx')
    .on('outbox')
    .column('created_at')
    .where(sql.ref('status'), '=', 'pending')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('outbox_pending_created_idx').execute()
}
