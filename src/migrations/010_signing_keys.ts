import type { Kysely } from 'kysely'

// Signing keys added by `gatehouse keys rotate` (API.md §11), shared by every instance and
// process on the database. Portable types only (see 001_core).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('origin_kid', 'text', (c) => c.notNull())
    .addColumn('public_x', 'text', (c) => c.notNull())
    .addColumn('private_key', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('signing_keys_origin_idx')
    .on('signing_keys')
    .columns(['origin_kid', 'created_at'])
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('signing_keys').execute()
}
