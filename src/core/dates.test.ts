import path from 'node:path'
import { sql } from 'kysely'
import { describe, expect, it } from 'vitest'
import { expectProblem } from '../../test/auth.js'
import { onTestDatabase } from '../../test/database.js'
import { buildTestApp, createTodo, json, newUser } from '../../test/helpers.js'
import { up as mendExpiries } from '../migrations/005_api_key_expiry_range.js'
import { loadConfig } from './config.js'
import { openDatabase } from './db.js'

/**
 * Every date a client sends is an RFC 3339 instant Gatehouse can store and serve again: one
 * whose UTC instant falls in years 0000–9999, at millisecond precision. Anything else is a 400
 * naming the field, with nothing stored, so no later read can fail on it.
 */
const UNSTORABLE = [
  ['9999-12-31T23:59:59-23:59', 'UTC instant in year 10000'],
  ['9999-12-31T23:59:60Z', 'a leap second that ends in year 10000'],
  ['0000-01-01T00:00:00+00:01', 'UTC instant before year 0000'],
  ['2030-06-30T12:00:60Z', 'second 60 outside the last minute of a UTC day'],
  ['2030-06-30T23:59:60+01:00', 'second 60 at 22:59 UTC'],
  ['2030-01-01T24:00:00Z', 'hour 24'],
  ['2030-01-01T00:00:00+24:00', 'offset beyond ±23:59'],
  ['2030-02-29T00:00:00Z', 'no such day'],
  ['2030-01-01T00:00:00.1234567891Z', 'more than nanoseconds'],
  ['+010000-01-01T00:00:00Z', 'expanded year'],
  ['2030-01-01T00:00:00', 'no time zone'],
] as const

/** Accepted expiries and how they are stored and served: the UTC instant, to the millisecond. */
const STORABLE = [
  ['2030-01-01t00:00:00z', '2030-01-01T00:00:00.000Z'],
  ['2030-06-30T23:59:60Z', '2030-07-01T00:00:00.000Z'],
  ['2030-07-01T01:29:60+01:30', '2030-07-01T00:00:00.000Z'],
  ['2030-01-01T00:00:00.123456789Z', '2030-01-01T00:00:00.123Z'],
  ['2030-01-01T00:00:00-23:59', '2030-01-01T23:59:00.000Z'],
  ['9999-12-31T23:59:59+23:59', '9999-12-31T00:00:59.000Z'],
  ['9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z'],
] as const

async function datesSuite() {
  const { app, dataDir } = await buildTestApp()
  const user = await newUser(app)

  const keyCount = async () => {
    const list = await app.inject({ url: '/api/v1/profile/api-keys', headers: user.headers })
    expect(list.statusCode, list.body).toBe(200)
    return json<{ items: unknown[] }>(list).items.length
  }
  const todoCount = async () => {
    const list = await app.inject({ url: '/api/v1/todos?limit=100', headers: user.headers })
    expect(list.statusCode, list.body).toBe(200)
    return json<{ items: unknown[] }>(list).items.length
  }

  it('an API key expires_at it cannot store is 400 naming the field; nothing is stored', async () => {
    for (const [expiresAt, why] of UNSTORABLE) {
      const before = await keyCount()
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/profile/api-keys',
        headers: user.headers,
        payload: { name: 'dated', expires_at: expiresAt },
      })
      expect(response.statusCode, `${expiresAt} (${why}): ${response.body}`).toBe(400)
      expect(expectProblem(response, 400).errors?.[0]?.path).toBe('body/expires_at')
      // The list still answers, and holds no new key.
      expect(await keyCount(), expiresAt).toBe(before)
    }
  })

  it('an accepted expires_at is stored and served as its UTC instant, and listed', async () => {
    for (const [expiresAt, stored] of STORABLE) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/profile/api-keys',
        headers: user.headers,
        payload: { name: 'dated', expires_at: expiresAt },
      })
      expect(response.statusCode, `${expiresAt}: ${response.body}`).toBe(201)
      const { id, expires_at } = json<{ id: string; expires_at: string }>(response)
      expect(expires_at, expiresAt).toBe(stored)
      const list = await app.inject({ url: '/api/v1/profile/api-keys', headers: user.headers })
      expect(list.statusCode, list.body).toBe(200)
      const listed = json<{ items: { id: string; expires_at: string }[] }>(list).items
      expect(listed.find((item) => item.id === id)?.expires_at).toBe(stored)
    }
  })

  it('a todo due it cannot store is 400 naming the field on POST, PUT and PATCH', async () => {
    const todo = await createTodo(app, user, { title: 'kept', due: '2030-01-01' })
    for (const [due, why] of UNSTORABLE) {
      const before = await todoCount()
      const writes = [
        { method: 'POST' as const, url: '/api/v1/todos', payload: { title: 't', due } },
        { method: 'PUT' as const, url: `/api/v1/todos/${todo.id}`, payload: { title: 't', due } },
        { method: 'PATCH' as const, url: `/api/v1/todos/${todo.id}`, payload: { due } },
      ]
      for (const write of writes) {
        const response = await app.inject({ ...write, headers: user.headers })
        expect(response.statusCode, `${write.method} ${due} (${why}): ${response.body}`).toBe(400)
        expect(expectProblem(response, 400).errors?.[0]?.path).toBe('body/due')
      }
      expect(await todoCount(), due).toBe(before)
      const read = await app.inject({ url: `/api/v1/todos/${todo.id}`, headers: user.headers })
      expect(json<{ title: string; due: string }>(read)).toMatchObject({
        title: 'kept',
        due: '2030-01-01',
      })
    }
  })

  it('a todo due at the edges of what is stored is kept as sent', async () => {
    for (const due of [
      ...STORABLE.map(([sent]) => sent),
      '0000-01-01T00:00:00Z',
      '0000-01-01T00:00:00-23:59',
      '0000-02-29',
      '9999-12-31',
    ]) {
      expect((await createTodo(app, user, { title: 'edge', due })).due).toBe(due)
    }
    const sorted = await app.inject({ url: '/api/v1/todos?sort=due', headers: user.headers })
    expect(sorted.statusCode, sorted.body).toBe(200)
  })

  it('a key stored before the fix with an expiry after year 9999 no longer breaks the list', async () => {
    const owner = await newUser(app)
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/api-keys',
      headers: owner.headers,
      payload: { name: 'far', expires_at: '2030-01-01T00:00:00Z' },
    })
    expect(created.statusCode, created.body).toBe(201)
    const id = json<{ id: string }>(created).id
    const list = () => app.inject({ url: '/api/v1/profile/api-keys', headers: owner.headers })
    const raw = openDatabase<unknown>(
      loadConfig(await onTestDatabase({ DATABASE_URL: `sqlite:${path.join(dataDir, 'test.db')}` }))
        .database,
    )
    try {
      // What the old code stored for `9999-12-31T23:59:59-23:59`; the list then fails.
      await sql`update api_keys set expires_at = '+010000-01-01T23:58:59.000Z' where id = ${id}`.execute(
        raw.kysely,
      )
      expect((await list()).statusCode).toBe(500)
      await mendExpiries(raw.kysely)
    } finally {
      await raw.close()
    }
    const mended = await list()
    expect(mended.statusCode, mended.body).toBe(200)
    expect(json<{ items: { id: string; expires_at: string }[] }>(mended).items).toEqual([
      expect.objectContaining({ id, expires_at: '9999-12-31T23:59:59.999Z' }),
    ])
  })
}

// On SQLite and on PostgreSQL, one per run (test/database.ts).
describe('dates that cannot be stored', datesSuite)
