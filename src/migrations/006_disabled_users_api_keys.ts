import { type Kysely, sql } from 'kysely'

// Disabling a user now deletes their API keys (API.md §9: re-enabling revives none). Users
// disabled before that still have theirs; without this, enabling them would revive the keys.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`delete from api_keys where user_id in (select id from users where disabled = 1)`.execute(
    db,
  )
}

// Nothing to restore: the deleted keys could not be used while their user stayed disabled.
export async function down(): Promise<void> {}
