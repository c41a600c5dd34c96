import path from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { uuidv7 } from 'uuidv7'
import { describe, expect, it } from 'vitest'
import { onPostgres, skipSuite } from '../../test/database.js'
import {
  buildTestApp,
  createTodo,
  json,
  loginAdmin,
  newUser,
  type Session,
} from '../../test/helpers.js'
import type { Database } from '../database.js'
import { createTodosRepository, type TodoRange, type TodoScope } from './todos.repository.js'
import type { Todo } from './todos.schemas.js'

interface TodoPage {
  items: Todo[]
  next_cursor: string | null
}

/** Order, pages and the JSON of list items, the same on every database. */
const orderAndPagination = async () => {
  const { app } = await buildTestApp()
  const admin = await loginAdmin(app)
  const user = await newUser(app, 'pager')

  const create = (session: Session, body: Record<string, unknown>) => createTodo(app, session, body)

  /** Follows `Link: rel="next"` from `url` to the end; returns every page. */
  async function walk(
    session: Session,
    url: string,
    between: () => Promise<unknown> = async () => {},
  ): Promise<Todo[][]> {
    const pages: Todo[][] = []
    let next: string | undefined = url
    while (next !== undefined) {
      const url: string = next
      const [response] = await Promise.all([
        app.inject({ url, headers: session.headers }),
        between(),
      ])
      expect(response.statusCode, response.body).toBe(200)
      const page = json<TodoPage>(response)
      pages.push(page.items)
      const link: unknown = response.headers.link
      if (page.next_cursor === null) {
        expect(link).toBeUndefined()
        next = undefined
      } else {
        expect(link).toMatch(/^<\/api\/v1\/todos\?.*cursor=.*>; rel="next"$/)
        next = /^<([^>]+)>/.exec(String(link))?.[1]
      }
      expect(pages.length).toBeLessThan(500)
    }
    return pages
  }

  describe('sort order', async () => {
    const sorter = await newUser(app, 'sorter')
    const t = {
      A: await create(sorter, { title: 'A', due: '2026-11-22' }),
      B: await create(sorter, { title: 'B', due: '2026-11-22T00:00:00Z' }),
      C: await create(sorter, { title: 'C', due: '2026-11-21T23:00:00-02:00' }),
      D: await create(sorter, { title: 'D', due: '2026-11-22T00:30:00+01:00' }),
      E: await create(sorter, { title: 'E' }),
      F: await create(sorter, { title: 'F', due: null }),
      G: await create(sorter, { title: 'G', due: '2025-06-01' }),
      H: await create(sorter, { title: 'H', due: '2026-11-22T00:00:00.000Z' }),
    }
    const titles = (items: Todo[]) => items.map((item) => item.title).join('')

    it('sorts by the due instant, ties by id, nulls last in both orders', async () => {
      // D is 2026-11-21T23:30Z, although its text sorts after A's; A, B, H are the same instant.
      for (const limit of [1, 2, 3, 100]) {
        const asc = await walk(sorter, `/api/v1/todos?limit=${limit}`)
        expect(titles(asc.flat()), `asc limit ${limit}`).toBe('GDABHCEF')
        const desc = await walk(sorter, `/api/v1/todos?sort=due&order=desc&limit=${limit}`)
        expect(titles(desc.flat()), `desc limit ${limit}`).toBe('CHBADGFE')
      }
    })

    it('sorts by created_at both ways, ties by id', async () => {
      const asc = await walk(sorter, '/api/v1/todos?sort=created_at&limit=3')
      expect(titles(asc.flat())).toBe('ABCDEFGH')
      const desc = await walk(sorter, '/api/v1/todos?sort=created_at&order=desc&limit=3')
      expect(titles(desc.flat())).toBe('HGFEDCBA')
    })

    it('?done= filters and keeps the order; unfiltered pages mix done and open todos', async () => {
      for (const todo of [t.B, t.E]) {
        const response = await app.inject({
          method: 'PATCH',
          url: `/api/v1/todos/${todo.id}`,
          headers: admin.headers,
          payload: { done: true },
        })
        expect(response.statusCode).toBe(200)
      }
      const done = await walk(sorter, '/api/v1/todos?done=true&limit=1')
      expect(titles(done.flat())).toBe('BE')
      const open = await walk(sorter, '/api/v1/todos?done=false&order=desc&limit=2')
      expect(titles(open.flat())).toBe('CHADGF')
      const all = await walk(sorter, '/api/v1/todos?limit=2')
      expect(titles(all.flat())).toBe('GDABHCEF')
      const created = await walk(sorter, '/api/v1/todos?sort=created_at&order=desc&done=true')
      expect(titles(created.flat())).toBe('EB')
    })
  })

  it('a walk returns every todo exactly once while others are inserted and deleted', async () => {
    const dues = ['2026-01-01', '2026-01-01T12:00:00Z', '2026-01-02', '2025-12-31T23:59:59Z', null]
    const pick = () => dues[Math.floor(Math.random() * dues.length)]
    const originals = new Set<string>()
    for (let i = 0; i < 45; i++)
      originals.add((await create(user, { title: `o${i}`, due: pick() })).id)
    const extras: string[] = []
    const churn = async () => {
      const [a, b] = await Promise.all([
        create(user, { title: 'extra', due: pick() }),
        create(user, { title: 'extra', due: pick() }),
      ])
      extras.push(a.id, b.id)
      const victim = extras.splice(Math.floor(Math.random() * extras.length), 1)[0]
      if (victim !== undefined) {
        const gone = await app.inject({
          method: 'DELETE',
          url: `/api/v1/todos/${victim}`,
          headers: user.headers,
        })
        expect(gone.statusCode).toBe(204)
      }
    }
    for (const query of [
      'sort=due&order=asc',
      'sort=due&order=desc',
      'sort=created_at&order=asc',
      'sort=created_at&order=desc',
    ]) {
      const pages = await walk(user, `/api/v1/todos?${query}&limit=4`, churn)
      const ids = pages.flat().map((item) => item.id)
      expect(new Set(ids).size, `${query}: no todo twice`).toBe(ids.length)
      const seen = ids.filter((id) => originals.has(id))
      expect(seen.length, `${query}: every original once`).toBe(originals.size)
    }
    // The admin-wide walk sees everyone's todos, each once.
    const everyone = (await walk(admin, '/api/v1/todos?limit=7&sort=due')).flat()
    const ids = everyone.map((item) => item.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of originals) expect(ids).toContain(id)
  })

  it('a NUL character (which PostgreSQL cannot store) is a 400 naming the field, and changes nothing', async () => {
    const owner = await newUser(app, 'nul')
    const todo = await create(owner, { title: 'clean' })
    const cases = [
      { method: 'POST', url: '/api/v1/todos', payload: { title: 'a\u0000b' }, path: 'body/title' },
      {
        method: 'PATCH',
        url: `/api/v1/todos/${todo.id}`,
        payload: { description: 'x\u0000' },
        path: 'body/description',
      },
      { method: 'GET', url: '/api/v1/todos/%00', path: 'params/id' },
      { method: 'GET', url: '/api/v1/todos?owner=%00', path: 'query/owner' },
    ] as const
    for (const { path, ...request } of cases) {
      const response = await app.inject({ ...request, headers: owner.headers })
      expect(response.statusCode, `${request.method} ${request.url}`).toBe(400)
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(json<{ errors: { path: string }[] }>(response).errors[0]?.path).toBe(path)
    }
    const listed = (await walk(owner, '/api/v1/todos')).flat()
    expect(listed).toEqual([todo])
  })

  it('a list item is the todo as read alone, for any text', async () => {
    const owner = await newUser(app, 'texts')
    const titles = [
      'plain',
      'quote " backslash \\ slash / tab \t newline \n',
      'control \u0001\u001f and del \u007f',
      'unicode: ünïcødé, 中文, emoji 🎉, rtl \u202e, line sep \u2028',
      '<script>alert(1)</script> & ampersand',
    ]
    const created: Todo[] = []
    for (const [n, title] of titles.entries()) {
      created.push(
        await create(owner, {
          title,
          description: n % 2 === 0 ? null : `${title} (description)`,
          due: [null, '2026-11-22', '2026-11-22T10:00:00.5+05:30'][n % 3] ?? null,
          public: n % 2 === 0,
        }),
      )
    }
    const done = await app.inject({
      method: 'PATCH',
      url: `/api/v1/todos/${created[0]?.id}`,
      headers: admin.headers,
      payload: { done: true },
    })
    expect(done.statusCode).toBe(200)
    const listed = (await walk(owner, '/api/v1/todos?sort=created_at&limit=2')).flat()
    expect(listed).toHaveLength(titles.length)
    for (const item of listed) {
      const single = await app.inject({ url: `/api/v1/todos/${item.id}`, headers: owner.headers })
      expect(item).toStrictEqual(json<Todo>(single))
      expect(Object.keys(item)).toEqual(Object.keys(json<Todo>(single)))
    }
    expect(listed.map((item) => item.title)).toEqual(titles)
    expect(listed[0]?.done).toBe(true)
    // The anonymous feed is written the same way.
    const feed = json<TodoPage>(await app.inject({ url: '/api/v1/todos' }))
    for (const item of feed.items) expect(listed).toContainEqual(item)
  })
}

// On SQLite and on PostgreSQL, one per run (test/database.ts).
describe('todos: order and keyset pagination', orderAndPagination)

describe('todos: every list query is an index range scan (SQLite)', async () => {
  if (skipSuite(onPostgres, 'SQLite only: EXPLAIN QUERY PLAN')) return
  const { app, dataDir } = await buildTestApp()
  await newUser(app, 'planner')
  const scopes: [string, TodoScope][] = [
    ['owner', { owner: 'someone' }],
    ['all', 'all'],
  ]

  function plans(kysely: Kysely<Database>, sqlite: SQLite.Database) {
    const repo = createTodosRepository(kysely, 'sqlite')
    const out: { name: string; index: string; plan: string[] }[] = []
    const add = (name: string, index: string, range: TodoRange) => {
      const { sql, parameters } = repo.rangeQuery(range)
      const rows = sqlite
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all(...(parameters as unknown[])) as { detail: string }[]
      out.push({ name, index, plan: rows.map((row) => row.detail) })
    }
    for (const [scopeName, scope] of scopes) {
      for (const done of [undefined, 0, 1] as const) {
        for (const sort of ['due', 'created_at'] as const) {
          for (const desc of [false, true]) {
            for (const after of [null, { key: '2026-01-01T00:00:00.000Z', id: uuidv7() }]) {
              for (const dueNull of sort === 'due' ? ([0, 1] as const) : ([0] as const)) {
                const index = `todos_${scopeName === 'owner' ? 'owner_' : ''}${done === undefined ? '' : 'done_'}${sort === 'due' ? 'due' : 'created'}_idx`
                add(
                  `${scopeName} done=${done} ${sort} ${desc ? 'desc' : 'asc'} ${after ? 'after' : 'first'} due_null=${dueNull}`,
                  index,
                  { scope, done, sort, dueNull, desc, after, limit: 21 },
                )
              }
            }
          }
        }
      }
    }
    add('public created desc first', 'todos_public_created_idx', {
      scope: { public: true },
      done: undefined,
      sort: 'created_at',
      dueNull: 0,
      desc: true,
      after: null,
      limit: 5,
    })
    return out
  }

  function expectRangeScans(sqlite: SQLite.Database) {
    const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
    for (const { name, index, plan } of plans(kysely, sqlite)) {
      // One line: a SEARCH (a seek and a range) of the expected index; no sort. The one query
      // with nothing to seek to (every todo from the newest or oldest) walks the index from
      // its end and stops at the limit, which SQLite calls a SCAN of that index.
      const unbounded = name.startsWith('all done=undefined created_at') && name.includes('first')
      expect(plan, `${name}: ${plan.join(' / ')}`).toHaveLength(1)
      expect(plan[0], name).toMatch(
        new RegExp(`^${unbounded ? 'SCAN' : 'SEARCH'} todos USING INDEX ${index}( \\(|$)`),
      )
      expect(plan.join('\n'), name).not.toMatch(/TEMP B-TREE/)
      // After a cursor the seek reaches the cursor itself, not the start of the scope.
      if (name.includes('after')) expect(plan[0], name).toMatch(/(due_key|created_at)[<>]\?\)/)
    }
  }

  it('every list query is an index range scan (EXPLAIN QUERY PLAN), before and after ANALYZE', () => {
    const sqlite = new SQLite(path.join(dataDir, 'test.db'))
    try {
      expectRangeScans(sqlite)
      // With statistics from a skewed table the planner must still choose the same ranges.
      const owners = sqlite.prepare('SELECT id FROM users').all() as { id: string }[]
      const insert = sqlite.prepare(
        `INSERT INTO todos (id, owner_id, title, description, done, due, due_null, due_key, public, created_at, updated_at)
           VALUES (?, ?, 't', NULL, ?, NULL, ?, ?, ?, ?, ?)`,
      )
      sqlite.transaction(() => {
        for (let i = 0; i < 5000; i++) {
          const now = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString()
          const hasDue = i % 5 !== 0
          const id = uuidv7()
          insert.run(
            id,
            owners[i % 10 === 0 ? 1 : 0]?.id,
            i % 7 === 0 ? 1 : 0,
            hasDue ? 0 : 1,
            hasDue ? now : id,
            i % 3 === 0 ? 1 : 0,
            now,
            now,
          )
        }
      })()
      sqlite.exec('ANALYZE')
      expectRangeScans(sqlite)
    } finally {
      sqlite.close()
    }
  })
})
