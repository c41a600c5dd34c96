import { statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import SQLite from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { gatehouse } from '../../test/cli.js'
import { onPostgres, skipSuite } from '../../test/database.js'
import {
  ADMIN_ENV,
  postJson,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../test/process.js'

const WRITERS = 8

interface Acknowledged {
  id: string
  /** performance.now() when the 201 was read. */
  at: number
}

async function adminToken(server: ServerProcess): Promise<string> {
  const response = await postJson(`${server.url}/api/v1/auth/login`, {
    username: ADMIN_ENV.ADMIN_USERNAME,
    password: ADMIN_ENV.ADMIN_PASSWORD,
  })
  expect(response.status).toBe(200)
  return `Bearer ${((await response.json()) as { access_token: string }).access_token}`
}

async function allTodoIds(server: ServerProcess, authorization: string): Promise<Set<string>> {
  const ids = new Set<string>()
  let next: string | null = '/api/v1/todos?limit=100'
  while (next !== null) {
    const response: Response = await fetch(server.url + next, { headers: { authorization } })
    expect(response.status).toBe(200)
    const page = (await response.json()) as { items: { id: string }[]; next_cursor: string | null }
    for (const todo of page.items) ids.add(todo.id)
    next =
      page.next_cursor === null
        ? null
        : `/api/v1/todos?limit=100&cursor=${encodeURIComponent(page.next_cursor)}`
  }
  return ids
}

function oneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => line !== '')
  expect(lines, stderr).toHaveLength(1)
  return lines[0] ?? ''
}

describe('backup and restore of the SQLite database', async () => {
  if (skipSuite(onPostgres, 'SQLite only: on PostgreSQL they point to pg_dump (below)')) return
  const dir = tempDir('gatehouse-cli-backup-')
  const database = path.join(dir, 'gatehouse.db')
  const env = { DATABASE_URL: `sqlite:${database}`, DATA_DIR: dir, RATE_LIMIT: 'false' }
  const servers: ServerProcess[] = []
  afterAll(async () => {
    for (const server of servers) await server.stop()
    removeDir(dir)
  })
  const run = (args: string[]) => gatehouse(args, { env, cwd: dir, timeoutMs: 60_000 })
  const start = async () => {
    const server = await startServer({ ...env, ...ADMIN_ENV }, dir)
    servers.push(server)
    return server
  }
  const backupFile = path.join(dir, 'backup.db')

  it('a backup taken while 8 connections write todos holds every todo acknowledged before it began; restore refuses while the server runs', async () => {
    const server = await start()
    const authorization = await adminToken(server)
    const acknowledged: Acknowledged[] = []
    let writing = true
    const writer = async (n: number) => {
      for (let i = 0; writing; i++) {
        const response = await postJson(
          `${server.url}/api/v1/todos`,
          { title: `writer ${n}, todo ${i}` },
          { authorization },
        )
        expect(response.status).toBe(201)
        const { id } = (await response.json()) as { id: string }
        acknowledged.push({ id, at: performance.now() })
      }
    }
    const writers = Array.from({ length: WRITERS }, (_, n) => writer(n))
    while (acknowledged.length < 300) await new Promise((resolve) => setTimeout(resolve, 20))

    const began = performance.now()
    const backup = await run(['backup', backupFile])
    const during = acknowledged.filter((todo) => todo.at > began).length
    writing = false
    await Promise.all(writers)
    expect(backup.stderr).not.toMatch(/gatehouse:/)
    expect(backup.code).toBe(0)
    expect(backup.stdout).toBe(`backup written to ${backupFile}\n`)
    // Not a terminal: plain progress lines on stderr, ending at 100 %.
    expect(backup.stderr).toMatch(/^backup: (\d+)\/\1 pages \(100%\)\n$/m)
    // The writers went on while it ran: a copy of a quiet database would prove little.
    expect(during).toBeGreaterThan(0)
    // It holds password hashes: its owner's only.
    expect(statSync(backupFile).mode & 0o777).toBe(0o600)

    const refused = await run(['restore', backupFile])
    expect(refused.code).toBe(1)
    expect(oneLine(refused.stderr)).toMatch(/^gatehouse: a server is using .*gatehouse\.db/)
    // The server is untouched: it still has every todo.
    expect((await allTodoIds(server, authorization)).size).toBe(acknowledged.length)
    await server.stop()
    servers.pop()

    const restored = await run(['restore', backupFile])
    expect(restored.stderr).not.toMatch(/gatehouse:/)
    expect(restored.code).toBe(0)
    const again = await start()
    const token = await adminToken(again)
    const ids = await allTodoIds(again, token)
    const before = acknowledged.filter((todo) => todo.at < began)
    expect(before.length).toBeGreaterThanOrEqual(300)
    expect(before.filter((todo) => !ids.has(todo.id))).toEqual([])
    // Nothing it holds was made up: every todo is one the server acknowledged.
    const known = new Set(acknowledged.map((todo) => todo.id))
    expect([...ids].filter((id) => !known.has(id))).toEqual([])

    const audit = await fetch(`${again.url}/api/v1/audit?actor_id=cli&kind=database.restore`, {
      headers: { authorization: token },
    })
    const events = ((await audit.json()) as { items: { detail: Record<string, string> }[] }).items
    expect(events.map((event) => event.detail)).toEqual([{ file: 'backup.db' }])
    await again.stop()
    servers.pop()
    // Two servers, a backup and a restore, as processes: more than the default 30 s on a busy
    // machine.
  }, 120_000)

  it('restore refuses a file that is not a Gatehouse database, and changes nothing', async () => {
    const before = statSync(database)
    const junk = path.join(dir, 'junk.db')
    writeFileSync(junk, 'this is not a database\n'.repeat(100))
    const other = path.join(dir, 'other.db')
    const foreign = new SQLite(other)
    foreign.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)')
    foreign.close()

    for (const [file, why] of [
      [junk, /junk\.db is not a Gatehouse database: file is not a database/],
      [other, /other\.db is not a Gatehouse database: it has no migrations table/],
      [path.join(dir, 'absent.db'), /there is no file/],
    ] as const) {
      const result = await run(['restore', file])
      expect(result.code).toBe(1)
      expect(oneLine(result.stderr)).toMatch(why)
    }
    const after = statSync(database)
    expect([after.ino, after.size, after.mtimeMs]).toEqual([
      before.ino,
      before.size,
      before.mtimeMs,
    ])
  })
})

describe('backup and restore on PostgreSQL', () => {
  if (skipSuite(!onPostgres, 'PostgreSQL only: the SQLite run tests backups above')) return
  const dir = tempDir('gatehouse-cli-pg-')
  afterAll(() => removeDir(dir))
  const env = { DATABASE_URL: `sqlite:${path.join(dir, 'gatehouse.db')}`, DATA_DIR: dir }

  it.each([
    ['backup', /use pg_dump/],
    ['restore', /use pg_restore/],
  ])('%s says which PostgreSQL tool to use and exits 2', async (command, pattern) => {
    const result = await gatehouse([command, path.join(dir, 'copy.db')], { env, cwd: dir })
    expect(result.code).toBe(2)
    expect(oneLine(result.stderr)).toMatch(pattern)
  })
})
