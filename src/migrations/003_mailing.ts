import type { Kysely } from 'kysely'

// The mailing list: subscribers, their single-use confirmation tokens, campaigns, and the
// transactional outbox every mail goes through. Portable types only (see 001_core).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('subscribers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('email_normalised', 'text', (c) => c.notNull().unique())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('unsubscribe_token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('confirmed_at', 'text')
    .addColumn('unsubscribed_at', 'text')
    .addColumn('last_mailed_at', 'text')
    .execute()
  await db.schema
    .createIndex('subscribers_status_idx')
    .on('subscribers')
    .columns(['status', 'id'])
    .execute()

  await db.schema
    .createTable('subscriber_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('subscriber_id', 'text', (c) =>
      c.notNull().references('subscribers.id').onDelete('cascade'),
    )
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute()
  await db.schema
    .createIndex('subscriber_tokens_subscriber_idx')
    .on('subscriber_tokens')
    .column('subscriber_id')
    .execute()

  await db.schema
    .createTable('campaigns')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .execute()

  // No foreign keys: the outbox is a delivery record and outlives a deleted subscriber.
  await db.schema
    .createTable('outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('campaign_id', 'text')
    .addColumn('subscriber_id', 'text')
    .addColumn('recipient_name', 'text', (c) => c.notNull())
    .addColumn('recipient_email', 'text', (c) => c.notNull())
    .addColumn('message_id', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    .addColumn('lease_until', 'text')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .execute()
  // A campaign reaches each subscriber once, however often `send` is called.
  await db.schema
    .createIndex('outbox_campaign_subscriber_uq')
    .on('outbox')
    .columns(['campaign_id', 'subscriber_id'])
    .unique()
    .execute()
  await db.schema
    .createIndex('outbox_due_idx')
    .on('outbox')
    .columns(['status', 'next_attempt_at'])
    .execute()
  await db.schema
    .createIndex('outbox_campaign_status_idx')
    .on('outbox')
    .columns(['campaign_id', 'status'])
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['outbox', 'campaigns', 'subscriber_tokens', 'subscribers']) {
    await db.schema.dropTable(table).execute()
  }
}
