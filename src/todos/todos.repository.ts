import { type Kysely, sql } from 'kysely'
import type { DialectName } from '../core/db.js'
import type { Database } from '../database.js'
import type { NewTodoRow, TodoRow, TodoRowUpdate } from './todos.table.js'

export type TodosRepository = ReturnType<typeof createTodosRepository>

/** Which rows a list may see: one owner's, the public ones, or every row (admins). */
export type TodoScope = { owner: string } | { public: true } | 'all'

/**
 * One index range: a scope, optionally one `done` value and, for the due sort, one `due_null`
 * value, ordered by (key, id). `after` is the keyset position to continue from.
 */
export interface TodoRange {
  scope: TodoScope
  done: 0 | 1 | undefined
  sort: 'due' | 'created_at'
  dueNull: 0 | 1
  desc: boolean
  after: { key: string; id: string } | null
  limit: number
}

/**
 * One row of a list page: the todo as JSON text and its keyset position (a JSON array of the
 * sort key and the id). The database writes both, so a page of todos never becomes JavaScript
 * objects only to be serialised again: on SQLite that is most of a page's cost.
 */
export interface TodoListRow {
  item: string
  position: string
}

/**
 * A todo as JSON, in the order and with the types of the `Todo` schema (`done` and `public`
 * as booleans). A test checks every list item against the same todo read singly.
 */
const todoJson = {
  sqlite: sql<string>`json_object('id', "id", 'title', "title", 'description', "description", 'done', json(case "done" when 1 then 'true' else 'false' end), 'due', "due", 'public', json(case "public" when 1 then 'true' else 'false' end), 'owner_id', "owner_id", 'created_at', "created_at", 'updated_at', "updated_at")`,
  postgres: sql<string>`json_build_object('id', "id", 'title', "title", 'description', "description", 'done', "done" = 1, 'due', "due", 'public', "public" = 1, 'owner_id', "owner_id", 'created_at', "created_at", 'updated_at', "updated_at")::text`,
} satisfies Record<DialectName, unknown>

const positionJson = {
  sqlite: {
    due: sql<string>`json_array("due_null", "due_key", "id")`,
    created_at: sql<string>`json_array("created_at", "id")`,
  },
  postgres: {
    due: sql<string>`json_build_array("due_null", "due_key", "id")::text`,
    created_at: sql<string>`json_build_array("created_at", "id")::text`,
  },
} satisfies Record<DialectName, unknown>

export function createTodosRepository(db: Kysely<Database>, dialect: DialectName) {
  /**
   * Every condition is an equality on the index prefix plus a range on the sort key, so the
   * database seeks straight to the cursor. The tie-break is written without row values
   * (`key >= x AND (key > x OR id > y)`) so it runs on SQLite and PostgreSQL alike, and the
   * redundant `key >= x` is what lets the planner use it as the range bound.
   */
  function rangeQuery(range: TodoRange) {
    const key = range.sort === 'due' ? 'due_key' : 'created_at'
    const direction = range.desc ? 'desc' : 'asc'
    let query = db
      .selectFrom('todos')
      .select([todoJson[dialect].as('item'), positionJson[dialect][range.sort].as('position')])
    if (range.scope === 'all') {
      // No prefix: the admin-wide indexes.
    } else if ('owner' in range.scope) {
      query = query.where('owner_id', '=', range.scope.owner)
    } else {
      query = query.where('public', '=', 1)
    }
    if (range.done !== undefined) query = query.where('done', '=', range.done)
    if (range.sort === 'due') query = query.where('due_null', '=', range.dueNull)
    const after = range.after
    if (after !== null) {
      const beyond = range.desc ? '<' : '>'
      query = query
        .where(key, range.desc ? '<=' : '>=', after.key)
        .where((eb) => eb.or([eb(key, beyond, after.key), eb('id', beyond, after.id)]))
    }
    return query.orderBy(key, direction).orderBy('id', direction).limit(range.limit)
  }

  return {
    rangeQuery,
    listRange(range: TodoRange): Promise<TodoListRow[]> {
      return rangeQuery(range).execute()
    },
    findById(id: string): Promise<TodoRow | undefined> {
      return db.selectFrom('todos').selectAll().where('id', '=', id).executeTakeFirst()
    },
    async insert(row: NewTodoRow): Promise<TodoRow> {
      return db.insertInto('todos').values(row).returningAll().executeTakeFirstOrThrow()
    },
    update(id: string, changes: TodoRowUpdate): Promise<TodoRow | undefined> {
      return db
        .updateTable('todos')
        .set(changes)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst()
    },
    async delete(id: string): Promise<boolean> {
      const result = await db.deleteFrom('todos').where('id', '=', id).executeTakeFirst()
      return result.numDeletedRows > 0n
    },
  }
}
