import type { Kysely } from 'kysely'

// A cookie session (API.md §3) is a session like a refresh family, found by the hash of its
// cookie instead of by refresh tokens: one more column on `sessions`, null for token sessions.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('cookie_hash', 'text').execute()
  await db.schema
    .createIndex('sessions_cookie_hash_idx')
    .unique()
    .on('sessions')
    .column('cookie_hash')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('sessions_cookie_hash_idx').execute()
  await db.schema.alterTable('sessions').dropColumn('cookie_hash').execute()
}
