import { type Kysely, SqliteAdapter, sql } from 'kysely'

// SQLite only. `gatehouse keys rotate` adds a signing key in its own process; a running server
// learns of it from the change journal of migration 011 on its next request (auth-changes.ts),
// so it signs with the new key and publishes it at once rather than a refresh interval later.
// PostgreSQL needs none: each instance looks for a newer key at most once a second (signing-keys.ts).
const isSqlite = (db: Kysely<unknown>) => db.getExecutor().adapter instanceof SqliteAdapter

export async function up(db: Kysely<unknown>): Promise<void> {
  if (!isSqlite(db)) return
  await sql
    .raw(`create trigger signing_keys_auth_added after insert on signing_keys begin
    insert into auth_changes (kind, subject) values ('signing_key', new.kid);
  end`)
    .execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!isSqlite(db)) return
  await sql.raw('drop trigger if exists signing_keys_auth_added').execute(db)
}
