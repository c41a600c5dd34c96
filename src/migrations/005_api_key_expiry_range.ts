import { type Kysely, sql } from 'kysely'

const LATEST = '9999-12-31T23:59:59.999Z'

// Before dates were checked for range, an expires_at whose UTC instant fell after year 9999
// (`9999-12-31T23:59:59-23:59`) was stored as `+010000-…`, and every later list of that user's
// keys failed to serialise (500). Such a key was meant to last as long as any can: it now
// expires at the last instant Gatehouse stores. No other stored instant starts with a sign.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`update api_keys set expires_at = ${LATEST} where expires_at like '+%'`.execute(db)
}

// Nothing to restore: the old values could not be served.
export async function down(): Promise<void> {}
