import { type Kysely, sql } from 'kysely'

// Email on accounts and the single-use links mailed to them (API.md §10). Portable types only
// (see 001_core). An address is unique among verified ones: anyone may type any address, so an
// unverified claim reserves nothing, and whether another account holds it is never revealed.
// `mfa_enabled` is here for two-factor login, which comes later; it stays 0 until then.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('email', 'text').execute()
  await db.schema.alterTable('users').addColumn('email_normalised', 'text').execute()
  await db.schema
    .alterTable('users')
    .addColumn('email_verified', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  await db.schema
    .alterTable('users')
    .addColumn('mfa_enabled', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  await db.schema
    .createIndex('users_verified_email_idx')
    .unique()
    .on('users')
    .column('email_normalised')
    .where(sql.ref('email_verified'), '=', 1)
    .execute()

  // A token mailed for one purpose; `email` is the address it was sent to, so a link for an
  // address the user has since replaced verifies nothing. `user_id` is null only for the rows
  // the reset request writes for an unknown account (the same work either way, API.md §10).
  await db.schema
    .createTable('account_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute()
  await db.schema
    .createIndex('account_tokens_user_idx')
    .on('account_tokens')
    .columns(['user_id', 'purpose', 'created_at'])
    .execute()
  await db.schema
    .createIndex('account_tokens_expires_idx')
    .on('account_tokens')
    .column('expires_at')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('account_tokens').execute()
  await db.schema.dropIndex('users_verified_email_idx').execute()
  for (const column of ['mfa_enabled', 'email_verified', 'email_normalised', 'email']) {
    await db.schema.alterTable('users').dropColumn(column).execute()
  }
}
