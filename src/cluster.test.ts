import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { request } from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { onPostgres, skipSuite } from '../test/database.js'
import {
  ADMIN_ENV,
  removeDir,
  runToExit,
  type ServerProcess,
  sleep,
  startServer,
  tempDir,
} from '../test/process.js'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

const PASSWORD = 'a perfectly fine test password'

interface Answer {
  status: number
  body: string
}

/**
 * One request on a connection of its own: the cluster primary hands each new connection to the
 * next worker in turn, so a run of these reaches every worker.
 */
function fresh(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: unknown },
): Promise<Answer> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body)
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      method: options.method ?? 'GET',
      path: options.path,
      agent: false,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
    })
    req.on('response', (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        text += chunk
      })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * Whether each worker answers as the other: `count` requests on new connections to `url`, a path
 * no other request uses, with their statuses and the workers that answered (from the request
 * log, which names the process; responses name none).
 */
async function everyWorker(
  server: ServerProcess,
  url: string,
  headers: Record<string, string>,
  count = 8,
): Promise<{ statuses: number[]; workers: number }> {
  const statuses: number[] = []
  for (let i = 0; i < count; i++)
    statuses.push((await fresh(server.port, { path: url, headers })).status)
  // The request log line is written as the response ends; give the last ones a moment.
  let pids = new Set<unknown>()
  for (let attempt = 0; attempt < 50; attempt++) {
    const lines = server.logLines().filter((line) => line.url === url)
    pids = new Set(lines.map((line) => line.pid))
    if (lines.length >= count) break
    await sleep(20)
  }
  return { statuses, workers: pids.size }
}

const unique = () => `/api/v1/todos/${randomUUID()}`
const adminOnly = () => `/api/v1/users/${randomUUID()}`

describe('WORKERS=2: two processes on one port behave as one service', async () => {
  const dir = tempDir('gatehouse-cluster-')
  const database = path.join(dir, 'gatehouse.db')
  const server = await startServer(
    {
      ...ADMIN_ENV,
      WORKERS: '2',
      DATABASE_URL: `sqlite:${database}`,
      // Each test plays clients of its own (X-Forwarded-For), so their limits do not meet.
      TRUSTED_PROXIES: '127.0.0.1',
    },
    dir,
    60_000,
  )
  afterAll(async () => {
    await server.stop('SIGKILL')
    removeDir(dir)
  })
  const port = server.port
  // Ready means one worker answers; the primary hands connections only to workers that listen.
  while (
    server.logLines().filter((line) => String(line.msg).startsWith('Server listening')).length < 2
  ) {
    await sleep(50)
  }
  let clients = 0
  const newClient = () => ({ 'x-forwarded-for': `198.51.100.${++clients}` })

  async function login(username: string, password: string, client = newClient()) {
    const answer = await fresh(port, {
      method: 'POST',
      path: '/api/v1/auth/login',
      headers: client,
      body: { username, password },
    })
    expect(answer.status, answer.body).toBe(200)
    const tokens = JSON.parse(answer.body) as { access_token: string; refresh_token: string }
    return { ...tokens, headers: { authorization: `Bearer ${tokens.access_token}` } }
  }
  const admin = await login(ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD)

  let users = 0
  async function newUser() {
    const username = `worker${++users}x${process.pid}`
    const registered = await fresh(port, {
      method: 'POST',
      path: '/api/v1/auth/register',
      headers: newClient(),
      body: { username, password: PASSWORD, name: username },
    })
    expect(registered.status, registered.body).toBe(201)
    const id = (JSON.parse(registered.body) as { id: string }).id
    return { id, username, ...(await login(username, PASSWORD)) }
  }
  const patchUser = (id: string, body: Record<string, unknown>) =>
    fresh(port, { method: 'PATCH', path: `/api/v1/users/${id}`, headers: admin.headers, body })

  it('requests on new connections are answered by both workers', async () => {
    const user = await newUser()
    const { statuses, workers } = await everyWorker(server, unique(), user.headers, 10)
    expect(statuses).toEqual(Array(10).fill(404))
    expect(workers).toBe(2)
  })

  it('GET /metrics on either worker counts the requests of both', async () => {
    const missed = async () => {
      const scrape = await fresh(port, { path: '/metrics', headers: admin.headers })
      expect(scrape.status).toBe(200)
      const line = scrape.body
        .split('\n')
        .find(
          (text) =>
            text.startsWith('http_requests_total{') &&
            text.includes('method="GET"') &&
            text.includes('route="/api/v1/todos/:id"') &&
            text.includes('status="404"'),
        )
      return Number(line?.split(' ').at(-1) ?? 0)
    }
    const before = await missed()
    const { workers } = await everyWorker(server, unique(), admin.headers, 8)
    expect(workers).toBe(2)
    // Four scrapes on new connections reach both workers; each answers for the whole cluster.
    for (let i = 0; i < 4; i++) expect(await missed()).toBe(before + 8)
  })

  it('a logout in one worker is refused by the other at once', async () => {
    const user = await newUser()
    const before = await everyWorker(server, unique(), user.headers)
    expect(before).toEqual({ statuses: Array(8).fill(404), workers: 2 })
    const logout = await fresh(port, {
      method: 'POST',
      path: '/api/v1/auth/logout',
      headers: user.headers,
      body: { refresh_token: user.refresh_token },
    })
    expect(logout.status).toBe(204)
    const after = await everyWorker(server, unique(), user.headers)
    expect(after).toEqual({ statuses: Array(8).fill(401), workers: 2 })
  })

  it('demotion and disabling in one worker count in the other at once', async () => {
    const user = await newUser()
    expect((await patchUser(user.id, { role: 'admin' })).status).toBe(200)
    expect(await everyWorker(server, adminOnly(), user.headers)).toEqual({
      statuses: Array(8).fill(404),
      workers: 2,
    })
    expect((await patchUser(user.id, { role: 'user' })).status).toBe(200)
    expect(await everyWorker(server, adminOnly(), user.headers)).toEqual({
      statuses: Array(8).fill(403),
      workers: 2,
    })
    expect((await patchUser(user.id, { disabled: true })).status).toBe(200)
    expect(await everyWorker(server, unique(), user.headers)).toEqual({
      statuses: Array(8).fill(401),
      workers: 2,
    })
  })

  it('an API key revoked in one worker is refused by the other at once', async () => {
    const user = await newUser()
    const created = await fresh(port, {
      method: 'POST',
      path: '/api/v1/profile/api-keys',
      headers: user.headers,
      body: { name: 'cluster' },
    })
    const { id, key } = JSON.parse(created.body) as { id: string; key: string }
    const headers = { authorization: `Bearer ${key}` }
    expect(await everyWorker(server, unique(), headers)).toEqual({
      statuses: Array(8).fill(404),
      workers: 2,
    })
    const deleted = await fresh(port, {
      method: 'DELETE',
      path: `/api/v1/profile/api-keys/${id}`,
      headers: user.headers,
    })
    expect(deleted.status).toBe(204)
    expect(await everyWorker(server, unique(), headers)).toEqual({
      statuses: Array(8).fill(401),
      workers: 2,
    })
  })

  it('a change another process writes to the SQLite file counts in every worker at once', async (context) => {
    if (onPostgres) context.skip()
    const user = await newUser()
    expect((await patchUser(user.id, { role: 'admin' })).status).toBe(200)
    expect((await everyWorker(server, adminOnly(), user.headers)).statuses).toEqual(
      Array(8).fill(404),
    )
    // As an operator's sqlite3 shell or the gatehouse command would, in a process of its own.
    const script = `
      const db = new (require('better-sqlite3'))(process.argv[1], { timeout: 10000 })
      db.prepare("update users set role = 'user' where id = ?").run(process.argv[2])
      db.close()`
    const writer = spawnSync(process.execPath, ['-e', script, database, user.id], {
      cwd: path.resolve(HERE, '..'),
      encoding: 'utf8',
    })
    expect(writer.status, writer.stderr).toBe(0)
    expect(await everyWorker(server, adminOnly(), user.headers)).toEqual({
      statuses: Array(8).fill(403),
      workers: 2,
    })
  })

  it('registration is limited to 20 an hour per client across both workers', async () => {
    const client = newClient()
    const statuses: number[] = []
    for (let i = 0; i < 24; i++) {
      const username = `reg${i}x${process.pid}`
      const answer = await fresh(port, {
        method: 'POST',
        path: '/api/v1/auth/register',
        headers: client,
        body: { username, password: PASSWORD, name: username },
      })
      statuses.push(answer.status)
    }
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(201))
    expect(statuses.slice(20)).toEqual(Array(4).fill(429))
  })

  it('ten wrong passwords a minute for one account from one client count across both workers', async () => {
    const user = await newUser()
    const client = newClient()
    const attempt = (password: string) =>
      fresh(port, {
        method: 'POST',
        path: '/api/v1/auth/login',
        headers: client,
        body: { username: user.username, password },
      })
    const statuses: number[] = []
    for (let i = 0; i < 12; i++) statuses.push((await attempt('not the password')).status)
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401))
    expect(statuses.slice(10)).toEqual([429, 429])
    // Even the right password, from that client, in either worker.
    expect([(await attempt(PASSWORD)).status, (await attempt(PASSWORD)).status]).toEqual([429, 429])
  })

  it('of 10 parallel refreshes with one token over both workers, at most one succeeds', async () => {
    const user = await newUser()
    for (let round = 0; round < 3; round++) {
      const session = await login(user.username, PASSWORD)
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          fresh(port, {
            method: 'POST',
            path: '/api/v1/auth/refresh',
            body: { refresh_token: session.refresh_token },
          }),
        ),
      )
      const statuses = answers.map((answer) => answer.status)
      expect(
        statuses.filter((status) => status === 200).length,
        String(statuses),
      ).toBeLessThanOrEqual(1)
      expect(
        statuses.every((status) => status === 200 || status === 401),
        String(statuses),
      ).toBe(true)
    }
  })

  it('a killed worker is replaced and the port keeps answering', { timeout: 60_000 }, async () => {
    const listening = () =>
      server
        .logLines()
        .filter((line) => String(line.msg).startsWith('Server listening'))
        .map((line) => Number(line.pid))
    const before = listening()
    const victim = before[0]
    if (victim === undefined) throw new Error('no worker has logged that it listens')
    process.kill(victim, 'SIGKILL')
    const diedLine = () => server.logLines().find((line) => line.worker === victim)
    // A connection handed to the worker as it died is lost with it, as its in-flight ones are:
    // new ones start once the primary knows.
    while (diedLine() === undefined) await sleep(20)
    expect(diedLine()?.msg).toBe('worker died; starting another')
    let replacement: number | undefined
    while (replacement === undefined) {
      replacement = listening().find((pid) => !before.includes(pid))
      // Meanwhile the other worker answers every request.
      expect((await fresh(port, { path: '/readyz' })).status).toBe(200)
      await sleep(50)
    }
    expect((await everyWorker(server, unique(), admin.headers)).workers).toBe(2)
  })

  // Last: it stops the server.
  it('SIGTERM: both workers finish their in-flight requests, then all exit 0', async () => {
    const body = JSON.stringify({
      username: ADMIN_ENV.ADMIN_USERNAME,
      password: ADMIN_ENV.ADMIN_PASSWORD,
    })
    // Two logins whose bodies are half sent: each is in a worker's hands, unfinished.
    const inFlight = [0, 1].map(() => {
      const req = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/api/v1/auth/login',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      })
      const answer = new Promise<number>((resolve, reject) => {
        req.on('response', (response) => {
          response.resume()
          response.on('end', () => resolve(response.statusCode ?? 0))
        })
        req.on('error', reject)
      })
      req.flushHeaders()
      req.write(body.slice(0, 10))
      return { answer, finish: () => req.end(body.slice(10)) }
    })
    await sleep(300)
    server.child.kill('SIGTERM')
    await sleep(300)
    for (const request of inFlight) request.finish()
    expect(await Promise.all(inFlight.map((request) => request.answer))).toEqual([200, 200])
    expect(await server.exited).toEqual({ code: 0, signal: null })
    const stopping = server
      .logLines()
      .filter((line) => String(line.msg).startsWith('shutting down'))
    // The primary and both workers.
    expect(new Set(stopping.map((line) => line.pid)).size).toBe(3)
  })
})

describe('WORKERS with a database only one process can see', () => {
  if (skipSuite(onPostgres, 'SQLite only: sqlite::memory:')) return
  it('WORKERS=2 with sqlite::memory: stops with one line naming WORKERS, exit 2', async () => {
    const dir = tempDir('gatehouse-cluster-')
    try {
      const result = await runToExit({ WORKERS: '2', DATABASE_URL: 'sqlite::memory:' }, dir)
      expect(result.code).toBe(2)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toContain('WORKERS')
    } finally {
      removeDir(dir)
    }
  })
})
