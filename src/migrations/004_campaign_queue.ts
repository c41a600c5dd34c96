import type { Kysely } from 'kysely'

// A campaign is queued in chunks, each its own transaction. `queued_through` is the last
// subscriber id queued so far ('' before the first chunk): after a crash, queuing carries on
// from there (status 'queuing').
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('campaigns')
    .addColumn('queued_through', 'text', (c) => c.notNull().defaultTo(''))
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('campaigns').dropColumn('queued_through').execute()
}
