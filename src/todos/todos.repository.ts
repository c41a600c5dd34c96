import { CompiledQuery, type Kysely } from 'kysely'
import { type DialectName, lockedForWrite } from '../core/db.js'
import type { Database } from '../database.js'
import type { TodoSort } from './todos.schemas.js'
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
  sort: TodoSort
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
const TODO_JSON: Record<DialectName, string> = {
  sqlite: `json_object('id', "id", 'title', "title", 'description', "description", 'done', json(case "done" when 1 then 'true' else 'false' end), 'due', "due", 'public', json(case "public" when 1 then 'true' else 'false' end), 'owner_id', "owner_id", 'created_at', "created_at", 'updated_at', "updated_at")`,
  postgres: `json_build_object('id', "id", 'title', "title", 'description', "description", 'done', "done" = 1, 'due', "due", 'public', "public" = 1, 'owner_id', "owner_id", 'created_at', "created_at", 'updated_at', "updated_at")::text`,
}

const POSITION_JSON: Record<DialectName, Record<TodoRange['sort'], string>> = {
  sqlite: {
    due: `json_array("due_null", "due_key", "id")`,
    created_at: `json_array("created_at", "id")`,
  },
  postgres: {
    due: `json_build_array("due_null", "due_key", "id")::text`,
    created_at: `json_build_array("created_at", "id")::text`,
  },
}

export function createTodosRepository(db: Kysely<Database>, dialect: DialectName) {
  /**
   * The list query, written out by hand: it runs on every list request, and building it with
   * Kysely cost more than running it. Every condition is an equality on the index prefix plus
   * a range on the sort key, so the database seeks straight to the cursor. The tie-break is
   * written without row values (`key >= x AND (key > x OR id > y)`) so it runs on SQLite and
   * PostgreSQL alike, and the redundant `key >= x` is what lets the planner use it as the
   * range bound. Values are always parameters; only fixed text is spliced in.
   */
  function rangeQuery(range: TodoRange): CompiledQuery<TodoListRow> {
    const parameters: unknown[] = []
    const param = (value: unknown) => {
      parameters.push(value)
      return dialect === 'postgres' ? `$${parameters.length}` : '?'
    }
    const key = range.sort === 'due' ? '"due_key"' : '"created_at"'
    const conditions: string[] = []
    if (range.scope === 'all') {
      // No prefix: the admin-wide indexes.
    } else if ('owner' in range.scope) {
      conditions.push(`"owner_id" = ${param(range.scope.owner)}`)
    } else {
      conditions.push(`"public" = 1`)
    }
    if (range.done !== undefined) conditions.push(`"done" = ${param(range.done)}`)
    if (range.sort === 'due') conditions.push(`"due_null" = ${param(range.dueNull)}`)
    if (range.after !== null) {
      const [beyond, bound] = range.desc ? ['<', '<='] : ['>', '>=']
      conditions.push(
        `${key} ${bound} ${param(range.after.key)}`,
        `(${key} ${beyond} ${param(range.after.key)} or "id" ${beyond} ${param(range.after.id)})`,
      )
    }
    const direction = range.desc ? 'desc' : 'asc'
    const text = [
      `select ${TODO_JSON[dialect]} as "item", ${POSITION_JSON[dialect][range.sort]} as "position"`,
      'from "todos"',
      conditions.length > 0 ? `where ${conditions.join(' and ')}` : '',
      `order by ${key} ${direction}, "id" ${direction}`,
      `limit ${param(range.limit)}`,
    ].join(' ')
    return CompiledQuery.raw(text, parameters) as CompiledQuery<TodoListRow>
  }

  return {
    rangeQuery,
    async listRange(range: TodoRange): Promise<TodoListRow[]> {
      return (await db.executeQuery(rangeQuery(range))).rows
    },
    findById(id: string): Promise<TodoRow | undefined> {
      return db.selectFrom('todos').selectAll().where('id', '=', id).executeTakeFirst()
    },
    /**
     * The row a write is about to change, locked until its transaction ends, so that what the
     * write checks (If-Match, ownership, `done`) is still true when it writes.
     */
    findForUpdate(id: string): Promise<TodoRow | undefined> {
      const query = db.selectFrom('todos').selectAll().where('id', '=', id)
      return lockedForWrite(query, dialect).executeTakeFirst()
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
