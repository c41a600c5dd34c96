import type { Kysely } from 'kysely'
import { uuidv7 } from 'uuidv7'
import type { Principal } from '../core/caller.js'
import { checkPreconditions, type Preconditions } from '../core/conditional.js'
import type { DialectName } from '../core/db.js'
import { AppError, validationFailed } from '../core/errors.js'
import { type CursorCodec, type JsonPage, toJsonPage } from '../core/pagination.js'
import { instantOfDate, instantOfDateTime, isoOf, nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import type { TodoPageCache } from './todos.page-cache.js'
import {
  createTodosRepository,
  type TodoListRow,
  type TodoScope,
  type TodosRepository,
} from './todos.repository.js'
import {
  DUE_FORM,
  type Todo,
  type TodoCreate,
  type TodoListQuery,
  type TodoPatch,
  type TodoReplace,
  type TodoSort,
  toTodo,
} from './todos.schemas.js'
import type { TodoRow, TodoRowUpdate } from './todos.table.js'

/** Anonymous callers see this many of the newest public todos, and no further page. */
export const PUBLIC_FEED_SIZE = 5

// The same answer for "no such todo" and "not yours", so ids cannot be probed for existence.
const todoNotFound = () => new AppError('TODO_NOT_FOUND', 'No such todo')
const doneAdminOnly = () => new AppError('DONE_ADMIN_ONLY', 'Only an admin may change `done`')
const invalid = (path: string, message: string) => validationFailed([{ path, message }])

/**
 * The sort key of a due: the UTC instant as fixed-width ISO text, so that text order is time
 * order on both databases. A date alone is 00:00 UTC of that day. Precision is milliseconds;
 * dues closer than that tie and are ordered by id. The schema has already refused what has no
 * such key (core/time.ts); this is the last guard before a write.
 */
export function dueKey(due: string): string {
  const instant = instantOfDateTime(due) ?? instantOfDate(due)
  if (instant === undefined) throw invalid('body/due', DUE_FORM)
  return isoOf(instant)
}

function dueColumns(id: string, due: string | null): Pick<TodoRow, 'due' | 'due_null' | 'due_key'> {
  return due === null
    ? { due: null, due_null: 1, due_key: id }
    : { due, due_null: 0, due_key: dueKey(due) }
}

interface Position {
  dueNull: 0 | 1
  key: string
  id: string
}

export type TodosService = ReturnType<typeof createTodosService>

export function createTodosService(deps: {
  db: Kysely<Database>
  dialect: DialectName
  cursors: CursorCodec
  /** Cached list pages; absent, every list reads the database. */
  pages?: TodoPageCache
}) {
  const { db, dialect, cursors, pages } = deps
  const todos = createTodosRepository(db, dialect)

  const isAdmin = (caller: Principal | null) => caller?.role === 'admin'

  function decodeCursor(cursor: string, sort: TodoSort, tag: string): Position {
    const values = cursors.decode(cursor, sort === 'due' ? 4 : 3)
    const mismatch = () => invalid('query/cursor', 'belongs to another sort or order')
    if (values[0] !== tag) throw mismatch()
    if (sort === 'created_at') {
      const [, key, id] = values
      if (typeof key !== 'string' || typeof id !== 'string') throw mismatch()
      return { dueNull: 0, key, id }
    }
    const [, dueNull, key, id] = values
    if ((dueNull !== 0 && dueNull !== 1) || typeof key !== 'string' || typeof id !== 'string')
      throw mismatch()
    return { dueNull, key, id }
  }

  /**
   * A page is read from at most two index ranges (todos with a due, then those without), each
   * starting at the cursor and stopping after `limit` rows, so its cost does not grow with the
   * depth of the page or the size of the table.
   */
  async function readPage(options: {
    scope: TodoScope
    sort: TodoSort
    desc: boolean
    done: boolean | undefined
    from: Position | null
    limit: number
  }): Promise<TodoListRow[]> {
    const { scope, sort, desc, from } = options
    const done = options.done === undefined ? undefined : options.done ? 1 : 0
    const phases: (0 | 1)[] = sort === 'due' ? [0, 1] : [0]
    const rows: TodoListRow[] = []
    for (const dueNull of phases) {
      if (from !== null && dueNull < from.dueNull) continue
      const after = from !== null && from.dueNull === dueNull ? from : null
      const limit = options.limit - rows.length
      const range = await todos.listRange({ scope, done, sort, dueNull, desc, after, limit })
      for (const row of range) rows.push(row)
      if (rows.length >= options.limit) break
    }
    return rows
  }

  /**
   * Loads and locks a todo for a write by `caller`, inside the write's transaction; 404 unless
   * they own it or are an admin.
   */
  async function loadForWrite(
    repo: TodosRepository,
    caller: Principal,
    id: string,
  ): Promise<TodoRow> {
    const row = await repo.findForUpdate(id)
    if (row === undefined || (row.owner_id !== caller.id && !isAdmin(caller))) throw todoNotFound()
    return row
  }

  async function change(
    caller: Principal,
    id: string,
    changes: TodoRowUpdate,
    preconditions: Preconditions | undefined,
  ): Promise<Todo> {
    let owner: string | undefined
    try {
      return await db.transaction().execute(async (trx) => {
        const repo = createTodosRepository(trx, dialect)
        const row = await loadForWrite(repo, caller, id)
        checkPreconditions(preconditions, toTodo(row))
        if (changes.done !== undefined && changes.done !== row.done && !isAdmin(caller))
          throw doneAdminOnly()
        owner = row.owner_id
        const updated = await repo.update(id, { ...changes, updated_at: nowIso() })
        if (updated === undefined) throw todoNotFound()
        return toTodo(updated)
      })
    } finally {
      // Once the write was sent, also on failure: it may have committed though answering failed.
      if (owner !== undefined) pages?.changed(owner)
    }
  }

  /** Who may list what: 401 or 403 for a list the caller may not see. */
  function listScope(caller: Principal | null, query: TodoListQuery): TodoScope {
    if (caller === null) {
      if (query.owner !== undefined) {
        throw new AppError('UNAUTHENTICATED', 'Sign in to filter by owner')
      }
      // The feed has no next page, so no cursor was issued for it.
      if (query.cursor !== undefined) throw invalid('query/cursor', 'the public feed has no pages')
      return { public: true }
    }
    if (isAdmin(caller)) return query.owner === undefined ? 'all' : { owner: query.owner }
    if (query.owner === undefined || query.owner === caller.id) return { owner: caller.id }
    // `Forbidden`, not `Admins only`: that title is for admin routes (API.md §3), and this is not one.
    throw new AppError('FORBIDDEN', "Only admins may list another user's todos")
  }

  async function readListPage(scope: TodoScope, query: TodoListQuery): Promise<JsonPage> {
    if (scope !== 'all' && 'public' in scope) {
      // The public feed is fixed: sort, order, done and paging do not apply to it.
      const rows = await readPage({
        scope,
        sort: 'created_at',
        desc: true,
        done: undefined,
        from: null,
        limit: PUBLIC_FEED_SIZE,
      })
      return toJsonPage(rows, PUBLIC_FEED_SIZE, [], cursors)
    }
    const tag = `${query.sort}.${query.order}`
    const from = query.cursor === undefined ? null : decodeCursor(query.cursor, query.sort, tag)
    const rows = await readPage({
      scope,
      sort: query.sort,
      desc: query.order === 'desc',
      done: query.done,
      from,
      limit: query.limit + 1,
    })
    return toJsonPage(rows, query.limit, [tag], cursors)
  }

  /**
   * A page's cache key. The owner comes last: it is the only free text (an admin's `?owner=`).
   * Every field before it is fixed text or a cursor, whose alphabet (base64url and `.`) has no
   * `|`, and an absent cursor is `-`, which no cursor is; so no two requests share a key.
   */
  function pageKey(scope: TodoScope, query: TodoListQuery): string {
    if (scope === 'all' || 'owner' in scope) {
      const who = scope === 'all' ? '*' : `owner:${scope.owner}`
      return `${query.sort}.${query.order}|${query.done}|${query.limit}|${query.cursor ?? '-'}|${who}`
    }
    return 'public feed'
  }

  return {
    /** A page as its JSON body (see `toJsonPage`) and the next cursor. */
    async list(caller: Principal | null, query: TodoListQuery): Promise<JsonPage> {
      const scope = listScope(caller, query)
      if (pages === undefined) return readListPage(scope, query)
      const key = pageKey(scope, query)
      const owner = scope !== 'all' && 'owner' in scope ? scope.owner : null
      const cached = pages.get(key, owner)
      if (cached !== undefined) return cached
      // Stamped before the query: a write that commits meanwhile outdates the page.
      const stamp = pages.stamp()
      const page = await readListPage(scope, query)
      pages.set(key, owner, stamp, page)
      return page
    },

    async get(caller: Principal | null, id: string): Promise<Todo> {
      const row = await todos.findById(id)
      if (
        row === undefined ||
        (row.public !== 1 && row.owner_id !== caller?.id && !isAdmin(caller))
      )
        throw todoNotFound()
      return toTodo(row)
    },

    async create(caller: Principal, input: TodoCreate): Promise<Todo> {
      if (input.done === true && !isAdmin(caller)) throw doneAdminOnly()
      const now = nowIso()
      const id = uuidv7()
      const columns = {
        id,
        owner_id: caller.id,
        title: input.title,
        description: input.description ?? null,
        done: input.done === true ? 1 : 0,
        ...dueColumns(id, input.due ?? null),
        public: input.public === true ? 1 : 0,
        created_at: now,
        updated_at: now,
      }
      try {
        return toTodo(await todos.insert(columns))
      } finally {
        pages?.changed(caller.id)
      }
    },

    /** PUT: absent description, due and public reset to defaults; absent `done` is kept. */
    replace(
      caller: Principal,
      id: string,
      input: TodoReplace,
      preconditions?: Preconditions,
    ): Promise<Todo> {
      const changes: TodoRowUpdate = {
        title: input.title,
        description: input.description ?? null,
        ...dueColumns(id, input.due ?? null),
        public: input.public === true ? 1 : 0,
      }
      if (input.done !== undefined) changes.done = input.done ? 1 : 0
      return change(caller, id, changes, preconditions)
    },

    patch(
      caller: Principal,
      id: string,
      input: TodoPatch,
      preconditions?: Preconditions,
    ): Promise<Todo> {
      const changes: TodoRowUpdate = {}
      if (input.title !== undefined) changes.title = input.title
      if (input.description !== undefined) changes.description = input.description
      if (input.due !== undefined) Object.assign(changes, dueColumns(id, input.due))
      if (input.public !== undefined) changes.public = input.public ? 1 : 0
      if (input.done !== undefined) changes.done = input.done ? 1 : 0
      return change(caller, id, changes, preconditions)
    },

    async delete(caller: Principal, id: string, preconditions?: Preconditions): Promise<void> {
      let owner: string | undefined
      try {
        await db.transaction().execute(async (trx) => {
          const repo = createTodosRepository(trx, dialect)
          const row = await loadForWrite(repo, caller, id)
          checkPreconditions(preconditions, toTodo(row))
          owner = row.owner_id
          await repo.delete(id)
        })
      } finally {
        if (owner !== undefined) pages?.changed(owner)
      }
    },
  }
}
