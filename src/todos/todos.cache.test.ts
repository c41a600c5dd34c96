import path from 'node:path'
import SQLite from 'better-sqlite3'
import type { LightMyRequestResponse } from 'fastify'
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
import type { Todo } from './todos.schemas.js'

// List pages are cached in memory (TodoPageCache). These tests read every list twice before a
// write, so the second read is served from the cache, then check that the next read after the
// write shows it: a cached page must never be staler than the last acknowledged write.
describe('todos: a cached list page never outlives a write', async () => {
  if (skipSuite(onPostgres, 'SQLite only: so is the page cache')) return
  const { app, dataDir } = await buildTestApp()
  const admin = await loginAdmin(app)

  type Page = { items: Todo[]; next_cursor: string | null }
  const list = (url: string, headers: Record<string, string>) => app.inject({ url, headers })

  const ownUrl = '/api/v1/todos?sort=created_at&order=desc'

  function views(owner: Session): [name: string, url: string, headers: Record<string, string>][] {
    return [
      ['owner', ownUrl, owner.headers],
      ['admin, everyone', '/api/v1/todos?sort=created_at&order=desc&limit=100', admin.headers],
      ['admin, ?owner=', `/api/v1/todos?owner=${owner.id}`, admin.headers],
      ['anonymous', '/api/v1/todos', {}],
    ]
  }

  async function readAllViews(owner: Session): Promise<void> {
    for (const [, url, headers] of views(owner)) {
      for (let i = 0; i < 2; i++) expect((await list(url, headers)).statusCode).toBe(200)
    }
  }

  /** Every view shows the todo exactly as a single read does, or not at all if it is gone. */
  async function expectViewsCurrent(owner: Session, todoId: string, ownerGone = false) {
    const single = await app.inject({ url: `/api/v1/todos/${todoId}`, headers: admin.headers })
    const truth = single.statusCode === 200 ? json<Todo>(single) : undefined
    for (const [name, url, headers] of views(owner)) {
      const response = await list(url, headers)
      if (name === 'owner' && ownerGone) {
        expect(response.statusCode).toBe(401)
        continue
      }
      expect(response.statusCode, `${name}: ${response.body}`).toBe(200)
      const item = json<Page>(response).items.find((todo) => todo.id === todoId)
      const visible = truth !== undefined && (name !== 'anonymous' || truth.public)
      expect(item, `${name} view`).toEqual(visible ? truth : undefined)
    }
  }

  const create = (session: Session, body: Record<string, unknown>) => createTodo(app, session, body)

  interface WriteCase {
    name: string
    write: (owner: Session, todo: Todo) => Promise<LightMyRequestResponse>
    status: number
    ownerGone?: boolean
  }
  const at = (todo: Todo) => `/api/v1/todos/${todo.id}`
  const cases: WriteCase[] = [
    {
      name: 'PUT by the owner',
      write: (owner, todo) =>
        app.inject({
          method: 'PUT',
          url: at(todo),
          headers: owner.headers,
          payload: { title: 'replaced', public: true, due: '2030-01-01' },
        }),
      status: 200,
    },
    {
      name: 'PATCH by the owner',
      write: (owner, todo) =>
        app.inject({
          method: 'PATCH',
          url: at(todo),
          headers: owner.headers,
          payload: { title: 'patched' },
        }),
      status: 200,
    },
    {
      name: 'PATCH that makes it private',
      write: (owner, todo) =>
        app.inject({
          method: 'PATCH',
          url: at(todo),
          headers: owner.headers,
          payload: { public: false },
        }),
      status: 200,
    },
    {
      name: "PATCH of done by an admin (the owner's pages too)",
      write: (_owner, todo) =>
        app.inject({
          method: 'PATCH',
          url: at(todo),
          headers: admin.headers,
          payload: { done: true },
        }),
      status: 200,
    },
    {
      name: 'DELETE by the owner',
      write: (owner, todo) =>
        app.inject({ method: 'DELETE', url: at(todo), headers: owner.headers }),
      status: 204,
    },
    {
      name: 'DELETE by an admin',
      write: (_owner, todo) =>
        app.inject({ method: 'DELETE', url: at(todo), headers: admin.headers }),
      status: 204,
    },
    {
      name: 'deleting the owner (their todos go too)',
      write: (owner) =>
        app.inject({
          method: 'DELETE',
          url: `/api/v1/users/${owner.id}`,
          headers: admin.headers,
        }),
      status: 204,
      ownerGone: true,
    },
  ]

  it.each(cases)('$name', async ({ write, status, ownerGone }) => {
    const owner = await newUser(app, 'cached')
    const todo = await create(owner, { title: 'before', public: true })
    await readAllViews(owner)
    const response = await write(owner, todo)
    expect(response.statusCode, response.body).toBe(status)
    await expectViewsCurrent(owner, todo.id, ownerGone)
  })

  it('POST: a new todo is in every list read after it', async () => {
    const owner = await newUser(app, 'cached')
    await create(owner, { title: 'older', public: true })
    await readAllViews(owner)
    const todo = await create(owner, { title: 'newer', public: true })
    await expectViewsCurrent(owner, todo.id)
  })

  it('a refused write (412) changes no page', async () => {
    const owner = await newUser(app, 'cached')
    const todo = await create(owner, { title: 'kept', public: true })
    await readAllViews(owner)
    const response = await app.inject({
      method: 'PATCH',
      url: at(todo),
      headers: { ...owner.headers, 'if-match': '"not-the-etag"' },
      payload: { title: 'lost' },
    })
    expect(response.statusCode).toBe(412)
    await expectViewsCurrent(owner, todo.id)
    const page = json<Page>(await list(ownUrl, owner.headers))
    expect(page.items.map((item) => item.title)).toEqual(['kept'])
  })

  it('a write by another connection to the database file shows at once', async () => {
    const owner = await newUser(app, 'cached')
    const todo = await create(owner, { title: 'before', public: true })
    const gone = await create(owner, { title: 'to be deleted elsewhere', public: true })
    await readAllViews(owner)
    // Another process on the same SQLite file, or a command-line tool, as far as the server
    // can tell: a second connection.
    const other = new SQLite(path.join(dataDir, 'test.db'), { timeout: 10_000 })
    try {
      other.prepare('UPDATE todos SET title = ? WHERE id = ?').run('changed elsewhere', todo.id)
      other.prepare('DELETE FROM todos WHERE id = ?').run(gone.id)
    } finally {
      other.close()
    }
    await expectViewsCurrent(owner, todo.id)
    await expectViewsCurrent(owner, gone.id)
    const page = json<Page>(await list(ownUrl, owner.headers))
    expect(page.items.map((item) => item.title)).toEqual(['changed elsewhere'])
  })

  it('many writes and reads at once: once the writes are answered, a read shows them all', async () => {
    const owner = await newUser(app, 'racing')
    const url = '/api/v1/todos?sort=created_at&order=desc&limit=100'
    const created = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const [todo] = await Promise.all([
          create(owner, { title: `racing ${i}` }),
          list(url, owner.headers),
          list(url, owner.headers),
        ])
        return todo.id
      }),
    )
    const page = json<Page>(await list(url, owner.headers))
    expect(new Set(page.items.map((item) => item.id))).toEqual(new Set(created))
  })

  it("two users' identical requests get their own pages", async () => {
    const first = await newUser(app, 'mine')
    const second = await newUser(app, 'yours')
    const mine = await create(first, { title: 'mine' })
    const yours = await create(second, { title: 'yours' })
    const url = '/api/v1/todos?sort=due'
    for (const [session, todo] of [
      [first, mine],
      [second, yours],
      [first, mine],
    ] as const) {
      const page = json<Page>(await list(url, session.headers))
      expect(page.items.map((item) => item.id)).toEqual([todo.id])
    }
    const viaOwner = json<Page>(await list(`${url}&owner=${second.id}`, admin.headers))
    expect(viaOwner.items.map((item) => item.id)).toEqual([yours.id])
  })
})
