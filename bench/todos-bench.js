// Todos at scale: seeds N todos straight into SQLite, starts the real server (dist/gatehouse.js) as a
// child process and measures list pages with autocannon, at every size given.
//
//   npm run bench:todos                     # 10,000 and 1,000,000 rows
//   node bench/todos-bench.js --sizes 10000 --duration 3
//
// Every size is measured twice: with the list page cache (the default) and without it
// (TODO_LIST_CACHE_MB=0), so both a repeated read and a read from the database are on record.
// With taskset, the server runs on core 0 and this process (the load) on core 1.
//
// Needs `npm run build` first (bench:todos does it). Prints a markdown table and the query plans,
// and writes bench/results/todos-<time>.json.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { uuidv7 } from 'uuidv7'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,1000000' },
    users: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    depth: { type: 'string', default: '500' },
  },
})
const SIZES = args.sizes.split(',').map(Number)
const USERS = Number(args.users)
const DURATION = Number(args.duration)
const CONNECTIONS = Number(args.connections)
const DEPTH = Number(args.depth)
const LIMIT = 20
// The measured user owns enough todos for a page DEPTH deep at every size; the rest of the rows
// are spread over the other users. So only the size of the table changes between sizes.
const BENCH_USER_TODOS = DEPTH * LIMIT
const PASSWORD = 'bench password that is long enough'
const ADMIN = { username: 'benchadmin', password: 'bench admin password, long enough' }

const ROOT = path.resolve(HERE, '..')
const CACHES = [
  ['on', {}],
  ['off', { TODO_LIST_CACHE_MB: '0' }],
]

const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

/** User + system CPU time the process has used so far, in µs. */
function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function startServer(dbFile, port, extraEnv = {}) {
  const server = [process.execPath, path.join(ROOT, 'dist/gatehouse.js')]
  const [command, ...commandArgs] = hasTaskset ? ['taskset', '-c', '0', ...server] : server
  const child = spawn(command, commandArgs, {
    env: {
      ...extraEnv,
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      RATE_LIMIT: 'false',
      DATABASE_URL: `sqlite:${dbFile}`,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0123',
      ACCESS_TOKEN_TTL: '3600',
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const base = `http://127.0.0.1:${port}`
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return { child, base }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  child.kill('SIGTERM')
  throw new Error('server did not become ready')
}

async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

async function call(base, method, url, body, headers = {}) {
  const response = await fetch(base + url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`)
  return { body: text.length > 0 ? JSON.parse(text) : null, headers: response.headers }
}

async function tokenOf(base, username, password) {
  const { body } = await call(base, 'POST', '/api/v1/auth/login', { username, password })
  return { authorization: `Bearer ${body.access_token}` }
}

/** Batched inserts in transactions, in id order so the primary key grows at its end. */
function seed(dbFile, size, benchUserId) {
  const db = new SQLite(dbFile)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  // The seeder's own page cache: nine indexes take random inserts, and the 2 MB default would
  // send most of them to disk. The server keeps its own settings.
  db.pragma('cache_size = -524288')
  const started = performance.now()
  const now = new Date().toISOString()
  const others = []
  const insertUser = db.prepare(
    `INSERT INTO users (id, username, name, password_hash, role, disabled, created_at, updated_at, password_changed_at)
     VALUES (?, ?, ?, 'not-a-hash: bench users never sign in', 'user', 0, ?, ?, ?)`,
  )
  db.transaction(() => {
    for (let i = 1; i < USERS; i++) {
      const id = uuidv7()
      others.push(id)
      insertUser.run(id, `bench${i}`, `Bench ${i}`, now, now, now)
    }
  })()
  // Bulk load: drop the secondary indexes, append the rows in id order, then build each index
  // once by sorting, which is far cheaper than a million random inserts into nine B-trees.
  const indexes = db
    .prepare(
      `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'todos' AND sql IS NOT NULL`,
    )
    .all()
  for (const { name } of indexes) db.exec(`DROP INDEX ${name}`)
  const insert = db.prepare(
    `INSERT INTO todos (id, owner_id, title, description, done, due, due_null, due_key, public, created_at, updated_at)
     VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)`,
  )
  const start = Date.UTC(2024, 0, 1)
  const dueStart = Date.UTC(2026, 0, 1)
  let random = 42
  // A fixed linear congruential sequence: the same data on every run.
  const next = () => {
    random = (random * 1103515245 + 12345) % 2147483648
    return random / 2147483648
  }
  const batch = db.transaction((from, to) => {
    for (let i = from; i < to; i++) {
      const owner =
        i % Math.ceil(size / BENCH_USER_TODOS) === 0 || others.length === 0
          ? benchUserId
          : others[i % others.length]
      const created = new Date(start + i * 37).toISOString()
      const hasDue = next() >= 0.2
      const dueMs = dueStart + Math.floor(next() * 730) * 86_400_000
      const dateOnly = next() < 0.5
      const dueInstant = new Date(dueMs + (dateOnly ? 0 : Math.floor(next() * 86_400) * 1000))
      const due = hasDue
        ? dateOnly
          ? dueInstant.toISOString().slice(0, 10)
          : `${dueInstant.toISOString().slice(0, 19)}Z`
        : null
      const id = uuidv7()
      insert.run(
        id,
        owner,
        `todo ${i}`,
        next() < 0.3 ? 1 : 0,
        due,
        hasDue ? 0 : 1,
        hasDue ? dueInstant.toISOString() : id,
        next() < 0.1 ? 1 : 0,
        created,
        created,
      )
    }
  })
  for (let from = 0; from < size; from += 10_000) batch(from, Math.min(size, from + 10_000))
  for (const { sql } of indexes) db.exec(sql)
  db.pragma('wal_checkpoint(TRUNCATE)')
  const seconds = (performance.now() - started) / 1000
  const owned = db.prepare('SELECT count(*) AS n FROM todos WHERE owner_id = ?').get(benchUserId).n
  const total = db.prepare('SELECT count(*) AS n FROM todos').get().n
  db.close()
  return { seconds, owned, total }
}

/** The plan of every list query shape, as the repository builds it, on the seeded table. */
async function queryPlans(dbFile, benchUserId) {
  const { createTodosRepository } = await import(path.join(ROOT, 'dist/todos/todos.repository.js'))
  const sqlite = new SQLite(dbFile, { readonly: true })
  const kysely = new Kysely({ dialect: new SqliteDialect({ database: sqlite }) })
  const repo = createTodosRepository(kysely, 'sqlite')
  const after = { key: '2026-06-01T00:00:00.000Z', id: '01900000-0000-7000-8000-000000000000' }
  const plans = []
  for (const [scopeName, scope] of [
    ['user', { owner: benchUserId }],
    ['admin', 'all'],
  ]) {
    for (const done of [undefined, 1]) {
      for (const sort of ['due', 'created_at']) {
        for (const desc of [false, true]) {
          for (const from of [null, after]) {
            const range = { scope, done, sort, dueNull: 0, desc, after: from, limit: LIMIT + 1 }
            const { sql, parameters } = repo.rangeQuery(range)
            const rows = sqlite.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...parameters)
            plans.push({
              query: `${scopeName}${done === undefined ? '' : ' done=true'} sort=${sort} order=${desc ? 'desc' : 'asc'} ${from ? 'after cursor' : 'first page'}`,
              sql,
              plan: rows.map((row) => row.detail).join('; '),
            })
          }
        }
      }
    }
  }
  const { sql, parameters } = repo.rangeQuery({
    scope: { public: true },
    done: undefined,
    sort: 'created_at',
    dueNull: 0,
    desc: true,
    after: null,
    limit: 5,
  })
  plans.push({
    query: 'anonymous (public, newest first)',
    sql,
    plan: sqlite
      .prepare(`EXPLAIN QUERY PLAN ${sql}`)
      .all(...parameters)
      .map((row) => row.detail)
      .join('; '),
  })
  await kysely.destroy()
  return plans
}

/** Follows next_cursor DEPTH - 1 times; the returned URL is page DEPTH. */
async function deepUrl(base, headers, firstUrl) {
  let url = firstUrl
  for (let page = 1; page < DEPTH; page++) {
    const { body } = await call(base, 'GET', url, undefined, headers)
    if (body.next_cursor === null) throw new Error(`only ${page} pages at ${firstUrl}`)
    url = `${firstUrl}&cursor=${body.next_cursor}`
  }
  return url
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/**
 * autocannon's histogram has 1 ms resolution; the tracker's own timings are kept exactly. The
 * server's CPU time per request (from /proc) is the steadiest figure on a shared machine.
 */
async function measure(url, headers, pid) {
  await autocannon({ url, headers, connections: CONNECTIONS, duration: 1 })
  const latencies = []
  const cpuBefore = cpuMicros(pid)
  const instance = autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION })
  instance.on('response', (_client, statusCode, _bytes, ms) => {
    if (statusCode === 200) latencies.push(ms)
  })
  const result = await instance
  const cpu = cpuMicros(pid) - cpuBefore
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  latencies.sort((a, b) => a - b)
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    rps: result.requests.average,
    cpuUs: cpu / result.requests.total,
  }
}

async function runSize(size) {
  const dir = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-todos-'))
  const dbFile = path.join(dir, 'bench.db')
  const port = await freePort()
  let server = await startServer(dbFile, port)
  try {
    await call(server.base, 'POST', '/api/v1/auth/register', {
      username: 'benchuser',
      password: PASSWORD,
      name: 'Bench user',
    })
    const userHeaders = await tokenOf(server.base, 'benchuser', PASSWORD)
    const { body: me } = await call(server.base, 'GET', '/api/v1/profile', undefined, userHeaders)
    await stopServer(server.child)

    console.error(`seeding ${size.toLocaleString('en')} todos over ${USERS} users…`)
    const seeded = seed(dbFile, size, me.id)
    console.error(
      `seeded ${seeded.total.toLocaleString('en')} todos (${seeded.owned} of the bench user) in ${seeded.seconds.toFixed(1)} s`,
    )
    const plans = await queryPlans(dbFile, me.id)

    const rows = []
    for (const [cache, env] of CACHES) {
      server = await startServer(dbFile, port, env)
      const base = server.base
      const pid = server.child.pid
      const adminHeaders = await tokenOf(base, ADMIN.username, ADMIN.password)
      const add = async (role, sort, depth, url, headers) => {
        const result = await measure(base + url, headers, pid)
        rows.push({ size, cache, role, sort, depth, ...result })
        console.error(
          `${size}\tcache ${cache}\t${role}\t${sort}\t${depth}\tp50 ${result.p50.toFixed(2)} ms\tp99 ${result.p99.toFixed(2)} ms\t${Math.round(result.rps)} req/s\t${result.cpuUs.toFixed(0)} µs CPU/req`,
        )
      }
      // Measured twice (first and last), as the machine's load drifts; ratios use the mean.
      await add('user', '-', '-', '/api/v1/private', userHeaders)
      await add('anonymous', 'created_at desc', 1, '/api/v1/todos', {})
      for (const [role, headers] of [
        ['user', userHeaders],
        ['admin', adminHeaders],
      ]) {
        for (const sort of ['due', 'created_at']) {
          const first = `/api/v1/todos?sort=${sort}&limit=${LIMIT}`
          await add(role, sort, 1, first, headers)
          await add(role, sort, DEPTH, await deepUrl(base, headers, first), headers)
        }
      }
      await add('user', '-', '-', '/api/v1/private', userHeaders)
      await stopServer(server.child)
    }
    return { size, seeding: seeded, plans, rows }
  } finally {
    await stopServer(server.child).catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }
}

const results = []
for (const size of SIZES) results.push(await runSize(size))

const fmt = (n) => (Number.isFinite(n) ? n.toFixed(2) : '—')
const lines = [
  `Todos benchmark — ${new Date().toISOString()}, Node ${process.version}, ${CONNECTIONS} connections, ${DURATION} s a run, limit ${LIMIT}, ${hasTaskset ? 'server on core 0, load on core 1' : 'unpinned'}`,
  '',
  ...results.map(
    (r) =>
      `- ${r.size.toLocaleString('en')} rows: seeded in ${r.seeding.seconds.toFixed(1)} s; the bench user owns ${r.seeding.owned.toLocaleString('en')}`,
  ),
  '',
  '| rows | page cache | endpoint / role | sort (asc) | page | p50 ms | p99 ms | req/s | CPU µs/req |',
  '|---:|---|---|---|---:|---:|---:|---:|---:|',
]
for (const r of results) {
  for (const row of r.rows) {
    const endpoint = row.sort === '-' ? 'GET /private (user)' : row.role
    lines.push(
      `| ${row.size.toLocaleString('en')} | ${row.cache} | ${endpoint} | ${row.sort} | ${row.depth} | ${fmt(row.p50)} | ${fmt(row.p99)} | ${Math.round(row.rps)} | ${row.cpuUs.toFixed(0)} |`,
    )
  }
}
const smallest = results[0]
const largest = results[results.length - 1]
if (smallest !== largest) {
  lines.push(
    '',
    `p50 at ${largest.size.toLocaleString('en')} rows ÷ p50 at ${smallest.size.toLocaleString('en')} rows (target ≤ 1.5):`,
    '',
  )
  for (const row of largest.rows.filter((r) => r.sort !== '-')) {
    const base = smallest.rows.find(
      (b) =>
        b.cache === row.cache &&
        b.role === row.role &&
        b.sort === row.sort &&
        b.depth === row.depth,
    )
    if (base !== undefined)
      lines.push(
        `- cache ${row.cache}, ${row.role} ${row.sort} page ${row.depth}: ${(row.p50 / base.p50).toFixed(2)}`,
      )
  }
}
lines.push(
  '',
  "User's first page against GET /private in the same server (target ≥ 50% of req/s):",
  '',
)
for (const r of results) {
  for (const [cache] of CACHES) {
    const rows = r.rows.filter((row) => row.cache === cache)
    const privs = rows.filter((row) => row.sort === '-')
    const privRps = privs.reduce((sum, row) => sum + row.rps, 0) / privs.length
    const privCpu = privs.reduce((sum, row) => sum + row.cpuUs, 0) / privs.length
    for (const sort of ['due', 'created_at']) {
      const first = rows.find((row) => row.role === 'user' && row.sort === sort && row.depth === 1)
      if (first)
        lines.push(
          `- ${r.size.toLocaleString('en')} rows, cache ${cache}, sort=${sort}: ${((100 * first.rps) / privRps).toFixed(0)}% of the req/s (${((100 * privCpu) / first.cpuUs).toFixed(0)}% by CPU per request)`,
        )
    }
  }
}
lines.push('', `Query plans at ${largest.size.toLocaleString('en')} rows (EXPLAIN QUERY PLAN):`, '')
for (const plan of largest.plans) lines.push(`- ${plan.query}: \`${plan.plan}\``)
console.log(lines.join('\n'))

mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true })
writeFileSync(
  path.join(ROOT, `bench/results/todos-${new Date().toISOString().replaceAll(':', '-')}.json`),
  JSON.stringify(results, null, 2),
)
