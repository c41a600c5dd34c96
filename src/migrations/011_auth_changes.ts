import { type Kysely, SqliteAdapter, sql } from 'kysely'

/** How many changes the journal keeps; a process further behind than that drops all its caches. */
const KEPT_CHANGES = 10_000

// SQLite only. Each process caches principals, API keys and revocations, and on SQLite without
// Redis nothing tells it when another process (a cluster worker, the gatehouse command, an
// operator's sqlite3 shell) changed them. These triggers record every such change in one
// journal, whatever wrote it, in the writer's transaction; a process reads the journal when
// PRAGMA data_version says another connection committed (src/auth/auth-changes.ts).
// PostgreSQL needs none: instances sharing it read principals and revocations from it each time.
const STATEMENTS = [
  `create table auth_changes (
    seq integer primary key autoincrement,
    kind text not null,
    subject text not null
  )`,
  `create trigger auth_changes_kept after insert on auth_changes begin
    delete from auth_changes where seq <= new.seq - ${KEPT_CHANGES};
  end`,
  // What a cached principal holds (Principal in core/caller.ts), or the account itself.
  `create trigger users_auth_changed after update of username, name, role, disabled, password_changed_at, mfa_enabled on users
    when old.username is not new.username or old.name is not new.name or old.role is not new.role
      or old.disabled is not new.disabled or old.password_changed_at is not new.password_changed_at
      or old.mfa_enabled is not new.mfa_enabled
  begin
    insert into auth_changes (kind, subject) values ('user', new.id);
  end`,
  `create trigger users_auth_deleted after delete on users begin
    insert into auth_changes (kind, subject) values ('user', old.id);
  end`,
  `create trigger api_keys_auth_deleted after delete on api_keys begin
    insert into auth_changes (kind, subject) values ('api_keys', old.user_id);
  end`,
  `create trigger sessions_auth_revoked after update of revoked_at on sessions
    when old.revoked_at is null and new.revoked_at is not null
  begin
    insert into auth_changes (kind, subject) values ('session', new.id);
  end`,
  `create trigger revoked_tokens_auth_added after insert on revoked_tokens begin
    insert into auth_changes (kind, subject) values ('access_token', new.jti);
  end`,
]

const isSqlite = (db: Kysely<unknown>) => db.getExecutor().adapter instanceof SqliteAdapter

export async function up(db: Kysely<unknown>): Promise<void> {
  if (!isSqlite(db)) return
  for (const statement of STATEMENTS) await sql.raw(statement).execute(db)
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!isSqlite(db)) return
  for (const trigger of [
    'users_auth_changed',
    'users_auth_deleted',
    'api_keys_auth_deleted',
    'sessions_auth_revoked',
    'revoked_tokens_auth_added',
  ]) {
    await sql.raw(`drop trigger if exists ${trigger}`).execute(db)
  }
  await sql.raw('drop table if exists auth_changes').execute(db)
}
