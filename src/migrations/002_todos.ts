import type { Kysely } from 'kysely'

// Every list query is a range scan of one of these indexes: a scope prefix (owner, public or
// none), then the sort key and the id that breaks ties. `due_null` leads the due key so that
// todos without a due date come last whichever way the list is ordered. `?done=` has its own
// indexes with `done` in the prefix, so a filtered page is a range too, not a scan that skips
// rows of the other kind (whose cost would depend on how many there are).
const INDEXES: Record<string, string[]> = {
  todos_owner_due_idx: ['owner_id', 'due_null', 'due_key', 'id'],
  todos_owner_created_idx: ['owner_id', 'created_at', 'id'],
  todos_due_idx: ['due_null', 'due_key', 'id'],
  todos_created_idx: ['created_at', 'id'],
  todos_public_created_idx: ['public', 'created_at', 'id'],
  todos_owner_done_due_idx: ['owner_id', 'done', 'due_null', 'due_key', 'id'],
  todos_owner_done_created_idx: ['owner_id', 'done', 'created_at', 'id'],
  todos_done_due_idx: ['done', 'due_null', 'due_key', 'id'],
  todos_done_created_idx: ['done', 'created_at', 'id'],
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('todos')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('due', 'text')
    .addColumn('due_null', 'integer', (c) => c.notNull())
    .addColumn('due_key', 'text', (c) => c.notNull())
    .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()
  for (const [name, columns] of Object.entries(INDEXES)) {
    await db.schema.createIndex(name).on('todos').columns(columns).execute()
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('todos').execute()
}
