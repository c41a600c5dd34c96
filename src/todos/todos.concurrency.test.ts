import { describe, expect, it } from 'vitest'
import { buildTestApp, createTodo, json, newUser } from '../../test/helpers.js'
import type { Todo } from './todos.schemas.js'

/**
 * Writes that race with the same If-Match: the check and the write are one step, so exactly one
 * of them is applied and the others see the version it made (412) or its absence (404).
 */
const racingWrites = (env: () => Promise<Record<string, string>>) => async () => {
  const { app } = await buildTestApp(await env())
  const owner = await newUser(app, 'racer')

  async function versionOf(id: string): Promise<string> {
    const response = await app.inject({ url: `/api/v1/todos/${id}`, headers: owner.headers })
    return String(response.headers.etag)
  }

  it('of several PATCHes naming one version, one is applied and the others are 412', async () => {
    const todo = await createTodo(app, owner, { title: 'contested' })
    const headers = { ...owner.headers, 'if-match': await versionOf(todo.id) }
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        app.inject({
          method: 'PATCH',
          url: `/api/v1/todos/${todo.id}`,
          headers,
          payload: { title: `writer ${i}` },
        }),
      ),
    )
    const applied = answers.filter((answer) => answer.statusCode === 200)
    expect(applied).toHaveLength(1)
    for (const answer of answers) expect([200, 412]).toContain(answer.statusCode)
    const stored = json<Todo>(
      await app.inject({ url: `/api/v1/todos/${todo.id}`, headers: owner.headers }),
    )
    expect([stored.title]).toEqual(applied.map((answer) => json<Todo>(answer).title))
  })

  it('a PATCH and a DELETE naming one version: one of them happens', async () => {
    const todo = await createTodo(app, owner, { title: 'patch or delete' })
    const headers = { ...owner.headers, 'if-match': await versionOf(todo.id) }
    const [patch, remove] = await Promise.all([
      app.inject({
        method: 'PATCH',
        url: `/api/v1/todos/${todo.id}`,
        headers,
        payload: { title: 'patched' },
      }),
      app.inject({ method: 'DELETE', url: `/api/v1/todos/${todo.id}`, headers }),
    ])
    const outcome = `${patch?.statusCode} ${remove?.statusCode}`
    expect(['200 412', '404 204']).toContain(outcome)
  })
}

// On the database of the run: SQLite, or PostgreSQL in the postgres project (test/database.ts).
describe(
  'todos: racing conditional writes',
  racingWrites(async () => ({})),
)
