import type { Kysely } from 'kysely'

// Two-factor login (API.md §10). Portable types only (see 001_core). `users.mfa_enabled`
// (008) says whether it is on; these tables hold what it needs.
export async function up(db: Kysely<unknown>): Promise<void> {
  // One authenticator per user: pending until `confirmed_at`; the secret only encrypted.
  // `last_step` is the last TOTP time-step accepted, so a code is never taken twice.
  await db.schema
    .createTable('mfa_totp')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('secret_encrypted', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('confirmed_at', 'text')
    .addColumn('last_step', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()

  await db.schema
    .createTable('mfa_recovery_codes')
    .addColumn('code_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute()
  await db.schema
    .createIndex('mfa_recovery_codes_user_idx')
    .on('mfa_recovery_codes')
    .column('user_id')
    .execute()

  // The step between a right password and the code: `mfa_token`s, kept as hashes. `kind` says
  // what a right code opens (a token pair, or a cookie session); `password_changed_at` ties it
  // to the password that was checked.
  await db.schema
    .createTable('mfa_challenges')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('password_changed_at', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('ended_at', 'text')
    .execute()
  await db.schema
    .createIndex('mfa_challenges_expires_idx')
    .on('mfa_challenges')
    .column('expires_at')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('mfa_challenges').execute()
  await db.schema.dropTable('mfa_recovery_codes').execute()
  await db.schema.dropTable('mfa_totp').execute()
}
