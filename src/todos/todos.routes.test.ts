import { describe, expect, it } from 'vitest'
import {
  buildTestApp,
  createTodo,
  json,
  loginAdmin,
  newUser,
  type Session,
} from '../../test/helpers.js'
import type { Todo } from './todos.schemas.js'

describe('todos: access, rules, conditional requests', async () => {
  const { app } = await buildTestApp()
  const owner = await newUser(app, 'owner')
  const other = await newUser(app, 'other')
  const admin = await loginAdmin(app)

  const create = (session: Session, body: Record<string, unknown>) => createTodo(app, session, body)

  type Actor = 'anonymous' | 'owner' | 'other' | 'admin'
  const headersOf = (actor: Actor): Record<string, string> =>
    actor === 'anonymous'
      ? {}
      : { owner: owner.headers, other: other.headers, admin: admin.headers }[actor]

  type Operation = 'list' | 'get' | 'put' | 'patch' | 'delete'
  // Expected status per operation; for `list`, whether the todo is in the caller's list.
  const matrix: [Actor, 'private' | 'public', Record<Operation, number | boolean>][] = [
    ['anonymous', 'private', { list: false, get: 404, put: 401, patch: 401, delete: 401 }],
    ['anonymous', 'public', { list: true, get: 200, put: 401, patch: 401, delete: 401 }],
    ['owner', 'private', { list: true, get: 200, put: 200, patch: 200, delete: 204 }],
    ['owner', 'public', { list: true, get: 200, put: 200, patch: 200, delete: 204 }],
    ['other', 'private', { list: false, get: 404, put: 404, patch: 404, delete: 404 }],
    ['other', 'public', { list: false, get: 200, put: 404, patch: 404, delete: 404 }],
    ['admin', 'private', { list: true, get: 200, put: 200, patch: 200, delete: 204 }],
    ['admin', 'public', { list: true, get: 200, put: 200, patch: 200, delete: 204 }],
  ]
  const missing = await app.inject({
    url: '/api/v1/todos/01900000-0000-7000-8000-000000000000',
    headers: admin.headers,
  })

  for (const [actor, visibility, expected] of matrix) {
    for (const operation of Object.keys(expected) as Operation[]) {
      const want = expected[operation]
      it(`${actor} × ${operation} on a ${visibility} todo → ${String(want)}`, async () => {
        const todo = await create(owner, {
          title: `${actor} ${operation}`,
          public: visibility === 'public',
        })
        const url = `/api/v1/todos/${todo.id}`
        const headers = headersOf(actor)
        if (operation === 'list') {
          const query =
            actor === 'admin' ? '?sort=created_at&order=desc' : '?sort=created_at&order=desc'
          const response = await app.inject({ url: `/api/v1/todos${query}`, headers })
          expect(response.statusCode).toBe(200)
          const ids = json<{ items: Todo[] }>(response).items.map((item) => item.id)
          expect(ids.includes(todo.id)).toBe(want)
          return
        }
        const response = await app.inject({
          method: { get: 'GET', put: 'PUT', patch: 'PATCH', delete: 'DELETE' }[operation] as
            | 'GET'
            | 'PUT'
            | 'PATCH'
            | 'DELETE',
          url,
          headers,
          ...(operation === 'put' ? { payload: { title: 'replaced' } } : {}),
          ...(operation === 'patch' ? { payload: { title: 'patched' } } : {}),
        })
        expect(response.statusCode, response.body).toBe(want)
        if (want === 404) {
          // Not yours and does not exist are indistinguishable.
          expect(response.body).toBe(missing.body)
          expect(response.headers['content-type']).toBe(missing.headers['content-type'])
        }
        const after = json<Todo>(await app.inject({ url, headers: owner.headers }))
        if (operation === 'put' && want === 200) expect(after.title).toBe('replaced')
        else if (operation === 'patch' && want === 200) expect(after.title).toBe('patched')
        else if (operation === 'delete' && want === 204) {
          expect((await app.inject({ url, headers: owner.headers })).statusCode).toBe(404)
        } else expect(after.title).toBe(`${actor} ${operation}`)
      })
    }
  }

  it('anonymous cannot create (401); a user creates with defaults, Location and ETag', async () => {
    const anonymous = await app.inject({
      method: 'POST',
      url: '/api/v1/todos',
      payload: { title: 'x' },
    })
    expect(anonymous.statusCode).toBe(401)
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/todos',
      headers: owner.headers,
      payload: { title: 'defaults' },
    })
    expect(response.statusCode).toBe(201)
    const todo = json<Todo>(response)
    expect(todo).toMatchObject({
      title: 'defaults',
      description: null,
      done: false,
      due: null,
      public: false,
      owner_id: owner.id,
    })
    expect(response.headers.location).toBe(`/api/v1/todos/${todo.id}`)
    expect(response.headers.etag).toMatch(/^"/)
  })

  it('anonymous list: only the 5 newest public todos, newest first, no next page', async () => {
    const made: Todo[] = []
    for (let i = 0; i < 7; i++) made.push(await create(other, { title: `pub ${i}`, public: true }))
    await create(other, { title: 'private newest', public: false })
    const response = await app.inject({ url: '/api/v1/todos?limit=100' })
    expect(response.statusCode).toBe(200)
    const body = json<{ items: Todo[]; next_cursor: string | null }>(response)
    expect(body.items.map((t) => t.id)).toEqual(
      made
        .slice(-5)
        .reverse()
        .map((t) => t.id),
    )
    expect(body.next_cursor).toBeNull()
    expect(response.headers.link).toBeUndefined()
    // The feed has no pages, so any cursor (even one issued to a user for their list) is 400.
    const issued = json<{ next_cursor: string }>(
      await app.inject({ url: '/api/v1/todos?limit=1', headers: other.headers }),
    ).next_cursor
    for (const cursor of ['forged', issued]) {
      const paged = await app.inject({ url: `/api/v1/todos?cursor=${cursor}` })
      expect(paged.statusCode, cursor).toBe(400)
    }
  })

  it('?owner= is for admins: a user naming someone else gets 403, anonymous 401', async () => {
    const mine = await create(other, { title: 'owner filter' })
    const asAdmin = json<{ items: Todo[] }>(
      await app.inject({
        url: `/api/v1/todos?owner=${other.id}&limit=100`,
        headers: admin.headers,
      }),
    )
    expect(asAdmin.items.length).toBeGreaterThan(0)
    expect(asAdmin.items.every((t) => t.owner_id === other.id)).toBe(true)
    expect(asAdmin.items.map((t) => t.id)).toContain(mine.id)
    const self = await app.inject({
      url: `/api/v1/todos?owner=${other.id}`,
      headers: other.headers,
    })
    expect(self.statusCode).toBe(200)
    const user = await app.inject({
      url: `/api/v1/todos?owner=${other.id}`,
      headers: owner.headers,
    })
    expect(user.statusCode).toBe(403)
    expect(json(user).title).toBe('Forbidden')
    expect((await app.inject({ url: `/api/v1/todos?owner=${other.id}` })).statusCode).toBe(401)
  })

  it('only an admin changes done; sending the current value is not a change', async () => {
    const denied = await app.inject({
      method: 'POST',
      url: '/api/v1/todos',
      headers: owner.headers,
      payload: { title: 'already done', done: true },
    })
    expect(denied.statusCode).toBe(403)
    expect(json(denied).title).toBe('Forbidden')
    const todo = await create(owner, { title: 'open', done: false })
    const url = `/api/v1/todos/${todo.id}`
    const patch = (headers: Record<string, string>, payload: Record<string, unknown>) =>
      app.inject({ method: 'PATCH', url, headers, payload })
    expect((await patch(owner.headers, { done: true })).statusCode).toBe(403)
    expect(json<Todo>(await app.inject({ url, headers: owner.headers })).done).toBe(false)
    expect((await patch(owner.headers, { done: false, title: 'same done' })).statusCode).toBe(200)
    const byAdmin = await patch(admin.headers, { done: true })
    expect(byAdmin.statusCode).toBe(200)
    expect(json<Todo>(byAdmin).done).toBe(true)
    // PUT without done keeps it; a user sending the unchanged value is fine, a change is not.
    const put = (headers: Record<string, string>, payload: Record<string, unknown>) =>
      app.inject({ method: 'PUT', url, headers, payload })
    const kept = await put(owner.headers, { title: 'replaced' })
    expect(kept.statusCode).toBe(200)
    expect(json<Todo>(kept)).toMatchObject({ done: true, title: 'replaced', public: false })
    expect((await put(owner.headers, { title: 'again', done: true })).statusCode).toBe(200)
    expect((await put(owner.headers, { title: 'undo', done: false })).statusCode).toBe(403)
    const adminCreated = await app.inject({
      method: 'POST',
      url: '/api/v1/todos',
      headers: admin.headers,
      payload: { title: 'admin done', done: true },
    })
    expect(json<Todo>(adminCreated).done).toBe(true)
  })

  it('PUT resets absent optional fields; PATCH changes only what it names', async () => {
    const todo = await create(owner, {
      title: 't',
      description: 'd',
      due: '2026-11-22',
      public: true,
    })
    const url = `/api/v1/todos/${todo.id}`
    const patched = json<Todo>(
      await app.inject({ method: 'PATCH', url, headers: owner.headers, payload: { title: 'p' } }),
    )
    expect(patched).toMatchObject({ title: 'p', description: 'd', due: '2026-11-22', public: true })
    expect(patched.updated_at >= todo.updated_at).toBe(true)
    const cleared = json<Todo>(
      await app.inject({
        method: 'PATCH',
        url,
        headers: owner.headers,
        payload: { due: null, description: null },
      }),
    )
    expect(cleared).toMatchObject({ due: null, description: null })
    const replaced = json<Todo>(
      await app.inject({ method: 'PUT', url, headers: owner.headers, payload: { title: 'r' } }),
    )
    expect(replaced).toMatchObject({ title: 'r', description: null, due: null, public: false })
    expect(replaced.created_at).toBe(todo.created_at)
  })

  it('id, owner_id and the timestamps are not writable (400)', async () => {
    const todo = await create(owner, { title: 'fixed' })
    for (const field of ['id', 'owner_id', 'created_at', 'updated_at']) {
      const body = { title: 'x', [field]: field === 'owner_id' ? other.id : 'x' }
      for (const [method, url] of [
        ['POST', '/api/v1/todos'],
        ['PUT', `/api/v1/todos/${todo.id}`],
        ['PATCH', `/api/v1/todos/${todo.id}`],
      ] as const) {
        const response = await app.inject({ method, url, headers: owner.headers, payload: body })
        expect(response.statusCode, `${method} ${field}`).toBe(400)
      }
    }
    const after = json<Todo>(
      await app.inject({ url: `/api/v1/todos/${todo.id}`, headers: owner.headers }),
    )
    expect(after).toEqual(todo)
  })

  it('title 1–200 and description ≤ 10,000 characters, counted as characters, not UTF-16 units', async () => {
    const emoji = '\u{1F600}' // one character, two UTF-16 units
    const cases: [Record<string, unknown>, number][] = [
      [{ title: '' }, 400],
      [{ title: 'x'.repeat(201) }, 400],
      [{ title: emoji.repeat(201) }, 400],
      [{ title: emoji.repeat(200) }, 201],
      [{ title: 'd', description: emoji.repeat(10_000) }, 201],
      [{ title: 'd', description: emoji.repeat(10_001) }, 400],
      [{ title: 'd', description: 'x'.repeat(10_001) }, 400],
    ]
    for (const [payload, status] of cases) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/todos',
        headers: owner.headers,
        payload,
      })
      const label = `${String(payload.title).length} title units, ${String(payload.description ?? '').length} description units`
      expect(response.statusCode, label).toBe(status)
      if (status === 201) expect(json<Todo>(response).title).toBe(payload.title)
    }
  })

  it('400 for a due that is not an RFC 3339 date or date-time, naming the field and the form', async () => {
    for (const due of [
      '22-11-2026',
      '2026-13-01',
      '2026-02-30',
      '2026-11-22T12:00',
      '2026-11-22 12:00:00Z',
      'tomorrow',
      20261122,
      true,
    ]) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/todos',
        headers: owner.headers,
        payload: { title: 'bad due', due },
      })
      expect(response.statusCode, String(due)).toBe(400)
      const problem = json<{ errors: { path: string; message: string }[] }>(response)
      expect(problem.errors[0]?.path).toBe('body/due')
      expect(problem.errors[0]?.message).toMatch(/RFC 3339 date \(2026-11-22\) or date-time/)
    }
    // Well-formed, but its instant falls before year 0000 in UTC, which no fixed-width key holds.
    const early = await app.inject({
      method: 'POST',
      url: '/api/v1/todos',
      headers: owner.headers,
      payload: { title: 'too early', due: '0000-01-01T00:00:00+01:00' },
    })
    expect(early.statusCode).toBe(400)
    expect(json<{ errors: { path: string }[] }>(early).errors[0]?.path).toBe('body/due')
    for (const due of ['2026-11-22', '2026-11-22T12:00:00Z', '2026-11-22T12:00:00.123+05:30']) {
      expect((await create(owner, { title: 'good due', due })).due).toBe(due)
    }
  })

  it('400 for bad list parameters and for a cursor the server did not issue', async () => {
    for (const query of [
      'sort=title',
      'sort=',
      'order=up',
      'limit=0',
      'limit=101',
      'limit=ten',
      'done=maybe',
      'cursor=',
      'cursor=forged',
      'cursor=eyJ4Ijp9.AAAAAAAAAAAAAAAAAAAAAA',
    ]) {
      const response = await app.inject({ url: `/api/v1/todos?${query}`, headers: owner.headers })
      expect(response.statusCode, query).toBe(400)
      expect(response.headers['content-type']).toMatch(/application\/problem\+json/)
    }
    // The message says which values are accepted.
    const badSort = await app.inject({ url: '/api/v1/todos?sort=title', headers: owner.headers })
    expect(json<{ errors: { path: string; message: string }[] }>(badSort).errors).toEqual([
      { path: 'query/sort', message: 'must be one of "due", "created_at"' },
    ])
    // A cursor is bound to the sort and order that issued it.
    for (let i = 0; i < 2; i++) await create(owner, { title: `c${i}` })
    const first = json<{ next_cursor: string }>(
      await app.inject({ url: '/api/v1/todos?limit=1&sort=due', headers: owner.headers }),
    )
    const mixed = await app.inject({
      url: `/api/v1/todos?limit=1&sort=due&order=desc&cursor=${first.next_cursor}`,
      headers: owner.headers,
    })
    expect(mixed.statusCode).toBe(400)
  })

  it('ETag: If-None-Match → 304; a stale If-Match → 412 and nothing changes', async () => {
    const todo = await create(owner, { title: 'v1' })
    const url = `/api/v1/todos/${todo.id}`
    const read = await app.inject({ url, headers: owner.headers })
    const etag = String(read.headers.etag)
    const cached = await app.inject({ url, headers: { ...owner.headers, 'if-none-match': etag } })
    expect(cached.statusCode).toBe(304)
    expect(cached.body).toBe('')
    const first = await app.inject({
      method: 'PATCH',
      url,
      headers: { ...owner.headers, 'if-match': etag },
      payload: { title: 'v2' },
    })
    expect(first.statusCode).toBe(200)
    expect(first.headers.etag).not.toBe(etag)
    // A second writer still holding v1 loses: the lost update is refused, not applied.
    for (const [method, payload] of [
      ['PATCH', { title: 'lost' }],
      ['PUT', { title: 'lost' }],
      ['DELETE', undefined],
    ] as const) {
      const stale = await app.inject({
        method,
        url,
        headers: { ...owner.headers, 'if-match': etag },
        ...(payload === undefined ? {} : { payload }),
      })
      expect(stale.statusCode, method).toBe(412)
    }
    const now = await app.inject({ url, headers: owner.headers })
    expect(json<Todo>(now).title).toBe('v2')
    expect(
      (await app.inject({ url, headers: { ...owner.headers, 'if-none-match': etag } })).statusCode,
    ).toBe(200)
    // If-None-Match on a write (RFC 9110 §13.1.2): naming the current version, or `*` while the
    // todo exists, refuses it; naming an older version lets it through.
    for (const [method, payload] of [
      ['PATCH', { title: 'refused' }],
      ['PUT', { title: 'refused' }],
      ['DELETE', undefined],
    ] as const) {
      for (const ifNoneMatch of [String(now.headers.etag), '*']) {
        const refused = await app.inject({
          method,
          url,
          headers: { ...owner.headers, 'if-none-match': ifNoneMatch },
          ...(payload === undefined ? {} : { payload }),
        })
        expect(refused.statusCode, `${method} ${ifNoneMatch}`).toBe(412)
      }
    }
    expect(json<Todo>(await app.inject({ url, headers: owner.headers })).title).toBe('v2')
    const allowed = await app.inject({
      method: 'PATCH',
      url,
      headers: { ...owner.headers, 'if-none-match': etag },
      payload: { title: 'v3' },
    })
    expect(allowed.statusCode).toBe(200)
    const deleted = await app.inject({
      method: 'DELETE',
      url,
      headers: { ...owner.headers, 'if-match': String(allowed.headers.etag) },
    })
    expect(deleted.statusCode).toBe(204)
  })

  it('an idempotent retry of a create creates one todo', async () => {
    const user = await newUser(app, 'idem')
    const send = (payload: string) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/todos',
        headers: {
          ...user.headers,
          'idempotency-key': 'create-once-1',
          'content-type': 'application/json',
        },
        payload,
      })
    const first = await send('{"title":"once","public":false}')
    // The same JSON, members reordered: the same request.
    const retry = await send('{ "public": false, "title": "once" }')
    expect(first.statusCode).toBe(201)
    expect(retry.statusCode).toBe(201)
    expect(retry.body).toBe(first.body)
    expect(retry.headers.location).toBe(first.headers.location)
    expect((await send('{"title":"twice","public":false}')).statusCode).toBe(422)
    const list = json<{ items: Todo[] }>(
      await app.inject({ url: '/api/v1/todos', headers: user.headers }),
    )
    expect(list.items.map((t) => t.title)).toEqual(['once'])
  })

  it('deleting a user deletes their todos', async () => {
    const user = await newUser(app, 'gone')
    const todo = await create(user, { title: 'goes with the user', public: true })
    const deleted = await app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${user.id}`,
      headers: admin.headers,
    })
    expect(deleted.statusCode).toBe(204)
    expect(
      (await app.inject({ url: `/api/v1/todos/${todo.id}`, headers: admin.headers })).statusCode,
    ).toBe(404)
    const all = json<{ items: Todo[] }>(
      await app.inject({ url: `/api/v1/todos?owner=${user.id}`, headers: admin.headers }),
    )
    expect(all.items).toEqual([])
  })
})
