import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { onPostgres, skipSuite } from '../../test/database.js'
import {
  ADMIN_ENV,
  basicAuth,
  postJson,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../test/process.js'
import { startSmtpServer, type TestSmtpServer } from '../../test/smtp.js'

const PASSWORD = 'a perfectly fine test password'
const admin = basicAuth(ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD)

const dirs: string[] = []
const servers: ServerProcess[] = []
const smtpServers: TestSmtpServer[] = []
afterAll(async () => {
  // SIGKILL: the server's pooled SMTP connections would hold the SMTP server's close for 30 s.
  await Promise.all(servers.map((server) => server.stop('SIGKILL')))
  await Promise.all(smtpServers.map((smtp) => smtp.close()))
  for (const dir of dirs) removeDir(dir)
})

describe('SQLite with the outbox thread writing beside the requests', () => {
  if (skipSuite(onPostgres, 'SQLite only: two writers on one file')) return
  const SUBSCRIBERS = 3000
  const CLIENTS = 8

  it('signups and todo writes during a campaign are all acknowledged, none answered 5xx', {
    timeout: 60_000,
  }, async () => {
    const smtp = await startSmtpServer()
    smtpServers.push(smtp)
    const dataDir = tempDir('gatehouse-sqlite-')
    dirs.push(dataDir)
    const server = await startServer(
      {
        DATABASE_URL: `sqlite:${path.join(dataDir, 'gatehouse.db')}`,
        SMTP_URL: smtp.url,
        PUBLIC_URL: 'https://lists.example.org',
        RATE_LIMIT: 'false',
        ...ADMIN_ENV,
      },
      dataDir,
    )
    servers.push(server)
    const api = `${server.url}/api/v1`

    const csv = ['name,email']
    for (let i = 0; i < SUBSCRIBERS; i++) csv.push(`Reader ${i},reader${i}@example.com`)
    const imported = await fetch(`${api}/subscribers/import`, {
      method: 'POST',
      headers: { authorization: admin, 'content-type': 'text/csv' },
      body: csv.join('\n'),
    })
    expect(await imported.json()).toMatchObject({ created: SUBSCRIBERS, errors: [] })

    const user = { username: 'writer', password: PASSWORD, name: 'Writer' }
    expect((await postJson(`${api}/auth/register`, user)).status).toBe(201)
    const login = await postJson(`${api}/auth/login`, { username: 'writer', password: PASSWORD })
    const { access_token } = (await login.json()) as { access_token: string }
    const writer = { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' }

    const campaign = (await (
      await fetch(`${api}/campaigns`, {
        method: 'POST',
        headers: { authorization: admin, 'content-type': 'application/json' },
        body: JSON.stringify({ subject: 'Busy', text: 'Hello' }),
      })
    ).json()) as { id: string }
    const send = await fetch(`${api}/campaigns/${campaign.id}/send`, {
      method: 'POST',
      headers: { authorization: admin },
    })
    expect(send.status).toBe(202)

    let finished = false
    const watcher = (async () => {
      while (!finished) {
        const response = await fetch(`${api}/campaigns/${campaign.id}`, {
          headers: { authorization: admin },
        })
        const body = (await response.json()) as { status: string }
        if (body.status === 'sent') finished = true
        else await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })()

    const refused: Record<string, number> = {}
    let acknowledged = 0
    let next = 0
    const expectStatus = (what: string, response: Response, status: number) => {
      if (response.status === status) acknowledged += 1
      else
        refused[`${what}: ${response.status}`] = (refused[`${what}: ${response.status}`] ?? 0) + 1
    }
    // Each client alternates a public signup (one transaction: read the address, then write
    // the subscriber and its mail) with creating a todo and editing it (read, then update).
    async function client(): Promise<void> {
      while (!finished) {
        const n = next++
        const signup = await postJson(`${server.url}/api/v1/subscribers`, {
          name: `Signup ${n}`,
          email: `signup${n}@example.com`,
        })
        expectStatus('signup', signup, 202)
        const created = await fetch(`${api}/todos`, {
          method: 'POST',
          headers: writer,
          body: JSON.stringify({ title: `Todo ${n}` }),
        })
        expectStatus('todo create', created, 201)
        if (created.status !== 201) continue
        const { id } = (await created.json()) as { id: string }
        const edited = await fetch(`${api}/todos/${id}`, {
          method: 'PATCH',
          headers: writer,
          body: JSON.stringify({ title: `Todo ${n}, edited` }),
        })
        expectStatus('todo edit', edited, 200)
      }
    }
    await Promise.all([watcher, ...Array.from({ length: CLIENTS }, client)])
    console.info(
      `writes during a campaign of ${SUBSCRIBERS}: ${acknowledged} acknowledged, refused: ${JSON.stringify(refused)}`,
    )
    // The campaign took long enough for the writes to overlap it.
    expect(acknowledged).toBeGreaterThan(300)
    expect(refused).toEqual({})
    expect(server.stdout()).not.toContain('database is locked')
  })
})

/** Each entry of `dir` (and `dir` itself, as '.') with its permission bits, e.g. '600'. */
function modes(dir: string): Record<string, string> {
  const entries: Record<string, string> = { '.': (statSync(dir).mode & 0o777).toString(8) }
  for (const name of readdirSync(dir)) {
    entries[name] = (statSync(path.join(dir, name)).mode & 0o777).toString(8)
  }
  return entries
}

describe('database files are readable by the server account only', () => {
  if (skipSuite(onPostgres, 'SQLite only: the modes of its files')) return
  const env = {
    JWT_SECRET: 'a secret of at least thirty-two bytes, for the tests',
    RATE_LIMIT: 'false',
    ...ADMIN_ENV,
  }

  async function register(server: ServerProcess, username: string): Promise<void> {
    const response = await postJson(`${server.url}/api/v1/auth/register`, {
      username,
      password: PASSWORD,
      name: username,
    })
    expect(response.status).toBe(201)
  }

  it('in an existing directory: the database, its WAL and SHM are 0600, also after a crash and a restart', async () => {
    const cwd = tempDir('gatehouse-modes-')
    dirs.push(cwd)
    const dataDir = path.join(cwd, 'data')
    // An existing directory keeps its mode: it may be shared (the working directory, /tmp).
    mkdirSync(dataDir)
    chmodSync(dataDir, 0o755)
    // An empty database file as an older version or an operator's touch left it.
    const file = path.join(dataDir, 'gatehouse.db')
    writeFileSync(file, '')
    chmodSync(file, 0o644)
    const start = async () => {
      const server = await startServer({ ...env, DATABASE_URL: `sqlite:${file}` }, cwd)
      servers.push(server)
      return server
    }
    const owner = {
      '.': '755',
      'gatehouse.db': '600',
      'gatehouse.db-shm': '600',
      'gatehouse.db-wal': '600',
    }

    const first = await start()
    await register(first, 'first')
    expect(modes(dataDir)).toEqual(owner)
    // A crash leaves the WAL and SHM behind; say an older version had made them 0644.
    await first.stop('SIGKILL')
    for (const name of ['gatehouse.db', 'gatehouse.db-shm', 'gatehouse.db-wal']) {
      chmodSync(path.join(dataDir, name), 0o644)
    }

    const second = await start()
    await register(second, 'second')
    expect(modes(dataDir)).toEqual(owner)
    // A clean stop removes the WAL and SHM with the last connection; SQLite makes them anew.
    expect((await second.stop()).code).toBe(0)
    expect(Object.keys(modes(dataDir))).toEqual(['.', 'gatehouse.db'])

    const third = await start()
    await register(third, 'third')
    expect(modes(dataDir)).toEqual(owner)
    expect((await third.stop()).code).toBe(0)
  })

  it('in a directory it creates: 0700, files 0600, whatever the umask', async () => {
    const cwd = tempDir('gatehouse-modes-')
    dirs.push(cwd)
    const dataDir = path.join(cwd, 'var', 'gatehouse')
    // The child inherits the umask it is spawned with; 0 takes nothing away from any mode.
    const umask = process.umask(0)
    const starting = startServer(
      { ...env, DATABASE_URL: `sqlite:${path.join(dataDir, 'gatehouse.db')}` },
      cwd,
    )
    process.umask(umask)
    const server = await starting
    servers.push(server)
    await register(server, 'someone')
    expect(modes(path.join(cwd, 'var'))).toEqual({ '.': '700', gatehouse: '700' })
    expect(modes(dataDir)).toEqual({
      '.': '700',
      'gatehouse.db': '600',
      'gatehouse.db-shm': '600',
      'gatehouse.db-wal': '600',
    })
    expect((await server.stop()).code).toBe(0)
  })
})
