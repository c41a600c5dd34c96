import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { postgresAvailable, tempDatabase } from '../../test/postgres.js'
import { loadConfig } from '../core/config.js'
import { migrateToLatest, openDatabase } from '../core/db.js'
import type { Database } from '../database.js'
import { migrations } from '../migrations/index.js'
import { createOutboxRepository } from './outbox.repository.js'

const postgres = await postgresAvailable()

/** A fresh, empty database of this kind, gone after the test. */
async function freshUrl(kind: 'SQLite' | 'PostgreSQL'): Promise<string> {
  if (kind === 'PostgreSQL') {
    const database = await tempDatabase()
    onTestFinished(() => database.drop())
    return database.url
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-outbox-'))
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  return `sqlite:${path.join(dir, 'test.db')}`
}

/** A connection of its own, as another instance would open it; closed after the test. */
function connect(url: string) {
  const database = openDatabase<Database>(loadConfig({ DATABASE_URL: url }).database)
  onTestFinished(() => database.close())
  return database
}

/** The outbox on SQLite and on a throwaway PostgreSQL database, shared by two instances. */
describe.each([
  { kind: 'SQLite', available: true },
  { kind: 'PostgreSQL', available: postgres },
] as const)('the outbox on $kind', ({ kind, available }) => {
  it.skipIf(!available)(
    'claims made at the same moment from two connections never share a row',
    async () => {
      const url = await freshUrl(kind)
      const first = connect(url)
      const second = connect(url)
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
    },
  )
})
