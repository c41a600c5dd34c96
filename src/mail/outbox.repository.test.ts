import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { postgresAvailable, tempDatabase } from '../../test/postgres.js'
import { loadConfig } from '../core/config.js'
import { migrateToLatest, openDatabase } from '../core/db.js'
import type { Database } from '../database.js'
import { migrations } from '../migrations/index.js'
import { createOutboxRepository } from './outbox.repository.js'

/** The outbox on SQLite and on a throwaway PostgreSQL database, as two instances share it. */
const postgres = await postgresAvailable()

describe.each([
  { name: 'SQLite', available: true },
  { name: 'PostgreSQL', available: postgres },
])('the outbox on $name', ({ name, available }) => {
  if (!available) {
    it.skip('PostgreSQL is not reachable')
    return
  }
  const cleanups: (() => unknown)[] = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  /** A fresh, empty database of this kind. */
  async function freshUrl(): Promise<string> {
    if (name === 'PostgreSQL') {
      const database = await tempDatabase()
      cleanups.push(() => database.drop())
      return database.url
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-outbox-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    return `sqlite:${path.join(dir, 'test.db')}`
  }

  /** One more connection to the database, as another instance would open it. */
  function open(url: string) {
    const database = openDatabase<Database>(loadConfig({ DATABASE_URL: url }).database)
    cleanups.push(() => database.close())
    return database
  }

  it('claims made at the same moment from two connections never share a row', async () => {
    const url = await freshUrl()
    const first = open(url)
    const second = open(url)
    await migrateToLatest(first, migrations)
    const options = { messageIdHost: 'example.org', dialect: first.dialect }
    const now = new Date().toISOString()
    const queue = createOutboxRepository(first.kysely, options)
    for (let i = 0; i < 60; i++) {
      await queue.enqueueMail(
        { name: `R${i}`, email: `r${i}@example.com`, subject: 'Hi', text: 'Hello' },
        now,
      )
    }
    const later = new Date(Date.now() + 60_000).toISOString()
    const claimers = [first, second].map((db) => createOutboxRepository(db.kysely, options))
    const rounds = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        claimers[i % 2]?.claim(5, new Date().toISOString(), later),
      ),
    )
    const ids = rounds.flatMap((rows) => (rows ?? []).map((row) => row.id))
    expect(ids.length).toBe(40)
    expect(new Set(ids).size).toBe(ids.length)
  })
})
