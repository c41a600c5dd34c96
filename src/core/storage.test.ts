import { rmSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { onPostgres } from '../../test/database.js'
import { postgresAvailable, tempDatabase } from '../../test/postgres.js'
import {
  ADMIN_ENV,
  basicAuth,
  listAllUsers,
  postJson,
  removeDir,
  type ServerProcess,
  sleep,
  startServer,
  tempDir,
} from '../../test/process.js'

const PASSWORD = 'a perfectly fine test password'
const admin = basicAuth(ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD)

const dirs: string[] = []
const servers: ServerProcess[] = []
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop('SIGKILL')))
  for (const dir of dirs) removeDir(dir)
})

async function start(dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServer(
    {
      DATABASE_URL: `sqlite:${path.join(dataDir, 'gatehouse.db')}`,
      RATE_LIMIT: 'false',
      ...ADMIN_ENV,
      ...env,
    },
    dataDir,
  )
  servers.push(server)
  return server
}

function register(server: ServerProcess, username: string): Promise<Response> {
  return postJson(`${server.url}/api/v1/auth/register`, {
    username,
    password: PASSWORD,
    name: `User ${username}`,
  })
}

async function login(server: ServerProcess, username: string): Promise<number> {
  const response = await postJson(`${server.url}/api/v1/auth/login`, {
    username,
    password: PASSWORD,
  })
  return response.status
}

describe('storage', () => {
  it('two processes migrating the same fresh SQLite file at once both become ready and share data', async () => {
    const dataDir = tempDir('gatehouse-storage-')
    dirs.push(dataDir)
    // Same file, same moment, different ports: the migration and the admin bootstrap race.
    const [a, b] = await Promise.all([start(dataDir), start(dataDir)])
    expect(a.port).not.toBe(b.port)

    expect((await register(a, 'made_on_a')).status).toBe(201)
    expect((await register(b, 'made_on_b')).status).toBe(201)
    expect(await login(b, 'made_on_a')).toBe(200)
    expect(await login(a, 'made_on_b')).toBe(200)
    const seen = (await listAllUsers(b.url, admin)).map((user) => user.username).sort()
    // One admin, not two: the bootstrap ran once.
    expect(seen).toEqual(['made_on_a', 'made_on_b', 'root'])

    // A change made through one instance reaches a user's requests on the other promptly,
    // although B has the user cached from a moment ago.
    const tokens = (await (
      await postJson(`${a.url}/api/v1/auth/login`, { username: 'made_on_a', password: PASSWORD })
    ).json()) as { access_token: string }
    const onB = async () =>
      (
        await fetch(`${b.url}/api/v1/private`, {
          headers: { authorization: `Bearer ${tokens.access_token}` },
        })
      ).status
    expect(await onB()).toBe(200)
    const id = (await listAllUsers(a.url, admin)).find((user) => user.username === 'made_on_a')?.id
    const disable = await fetch(`${a.url}/api/v1/users/${id}`, {
      method: 'PATCH',
      headers: { authorization: admin, 'content-type': 'application/json' },
      body: JSON.stringify({ disabled: true }),
    })
    expect(disable.status).toBe(200)
    const deadline = Date.now() + 3000
    while ((await onB()) === 200 && Date.now() < deadline) await sleep(100)
    expect(await onB()).toBe(401)
    await fetch(`${a.url}/api/v1/users/${id}`, {
      method: 'PATCH',
      headers: { authorization: admin, 'content-type': 'application/json' },
      body: JSON.stringify({ disabled: false }),
    })

    expect((await a.stop()).code).toBe(0)
    expect((await b.stop()).code).toBe(0)

    // A restart runs the migrations again over a migrated file and keeps every user.
    const again = await start(dataDir)
    expect(await login(again, 'made_on_a')).toBe(200)
    expect(await login(again, 'made_on_b')).toBe(200)
    expect((await listAllUsers(again.url, admin)).length).toBe(3)
    expect((await again.stop()).code).toBe(0)
  })

  it('/readyz turns 503 when the SQLite file is removed under the running server', async ({
    skip,
  }) => {
    skip(onPostgres, 'SQLite only: it removes the SQLite file')
    const dataDir = tempDir('gatehouse-ready-')
    dirs.push(dataDir)
    const databaseDir = path.join(dataDir, 'db')
    const server = await startServer(
      {
        DATABASE_URL: `sqlite:${path.join(databaseDir, 'gatehouse.db')}`,
        DATA_DIR: path.join(dataDir, 'keys'),
        RATE_LIMIT: 'false',
      },
      dataDir,
    )
    servers.push(server)
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200)
    rmSync(databaseDir, { recursive: true, force: true })
    const ready = await fetch(`${server.url}/readyz`)
    expect(ready.status).toBe(503)
    expect(ready.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    const body = await ready.text()
    expect(body).not.toContain(databaseDir)
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    expect((await server.stop()).code).toBe(0)
  })

  it('a SIGKILL during a burst of registrations loses no acknowledged account', async () => {
    const dataDir = tempDir('gatehouse-crash-')
    dirs.push(dataDir)
    const server = await start(dataDir)

    const acknowledged: string[] = []
    let killed = false
    let next = 0
    // Several clients in parallel, each registering until the server dies under it.
    async function client(): Promise<void> {
      while (!killed) {
        const username = `burst_${next++}`
        try {
          const response = await register(server, username)
          if (response.status === 201) acknowledged.push(username)
          else if (!killed) throw new Error(`register ${username}: ${response.status}`)
        } catch (error) {
          if (!killed) throw error
        }
      }
    }
    const clients = Array.from({ length: 8 }, client)
    while (acknowledged.length < 25) await new Promise((resolve) => setTimeout(resolve, 5))
    killed = true
    const exit = await server.stop('SIGKILL')
    expect(exit.signal).toBe('SIGKILL')
    await Promise.all(clients)
    // Requests were still in flight when the process died (otherwise this proves little).
    expect(next).toBeGreaterThan(acknowledged.length)

    const restarted = await start(dataDir)
    const stored = new Set((await listAllUsers(restarted.url, admin)).map((user) => user.username))
    const lost = acknowledged.filter((username) => !stored.has(username))
    expect(lost).toEqual([])
    // And they are real accounts: a few can log in.
    for (const username of acknowledged.slice(-3))
      expect(await login(restarted, username)).toBe(200)
    expect((await restarted.stop()).code).toBe(0)
  })
})

const postgres = await postgresAvailable()
describe.skipIf(!postgres)('storage on PostgreSQL', async () => {
  const database = postgres ? await tempDatabase() : null

  it('two processes migrating the same fresh database at once both become ready and share data', async () => {
    const dataDir = tempDir('gatehouse-pg-')
    dirs.push(dataDir)
    const env = {
      DATABASE_URL: String(database?.url),
      // Both instances must sign with the same key to accept each other's tokens.
      JWT_SECRET: 'a shared secret of at least thirty-two bytes',
      RATE_LIMIT: 'false',
      ...ADMIN_ENV,
    }
    const [a, b] = await Promise.all([startServer(env, dataDir), startServer(env, dataDir)])
    servers.push(a, b)
    expect((await register(a, 'pg_on_a')).status).toBe(201)
    expect(await login(b, 'pg_on_a')).toBe(200)
    const seen = (await listAllUsers(b.url, admin)).map((user) => user.username).sort()
    expect(seen).toEqual(['pg_on_a', 'root'])
    expect((await a.stop()).code).toBe(0)
    expect((await b.stop()).code).toBe(0)
    const again = await startServer(env, dataDir)
    servers.push(again)
    expect(await login(again, 'pg_on_a')).toBe(200)
    expect((await again.stop()).code).toBe(0)
  })
})
