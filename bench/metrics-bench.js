// `npm run bench -- metrics`: what the Prometheus metrics cost (BENCHMARKS.md "Metrics").
//
// 1. W1 (GET /api/v1/public) and W2 (GET /api/v1/private, Bearer) against three servers on one
//    database: METRICS=true, METRICS=false, and a control identical to "off" whose difference
//    from it is the noise. Loaded one at a time on a core of their own (see measureSides).
//    Target: the metrics cost at most 5 % of the throughput (and of CPU time per request).
// 2. One scrape of /metrics (an admin's API key) with 1,000,000 todos and 100,000 queued mails,
//    after the load gave it its series: client latency and server CPU. Target: under 5 ms.
// 3. The background reading of the outbox (every 15 s) on that database, timed on its own.
//
// Environment: BENCH_DURATION (s per workload, default 10), BENCH_WARMUP (2), BENCH_ROUNDS (2),
// BENCH_CONNECTIONS (10), BENCH_SCRAPES (200), BENCH_CALLGRIND (runs of 4, default 1; 0: none),
// BENCH_KEEP=1 keeps the work directory.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import SQLite from 'better-sqlite3'
import { Counter, Histogram, Registry } from 'prom-client'
import { uuidv7 } from 'uuidv7'
import { openDatabase } from '../dist/core/db.js'
import { readOutboxDepth } from '../dist/mail/outbox.repository.js'
import { createRequestMetrics } from '../dist/metrics/request-metrics.js'
import { hasCallgrind, instructionsPerRequest } from './callgrind.js'
import { ADMIN_PASSWORD, ADMIN_USER, BENCH_PASSWORD, BENCH_USER, seedDatabase } from './seed.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)
const duration = Number(process.env.BENCH_DURATION ?? 10)
const warmup = Number(process.env.BENCH_WARMUP ?? 2)
const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2))
const connections = Number(process.env.BENCH_CONNECTIONS ?? 10)
const scrapes = Number(process.env.BENCH_SCRAPES ?? 200)
const callgrindRuns = Number(process.env.BENCH_CALLGRIND ?? 1)
const QUEUED_MAILS = 100_000
const log = (line) => process.stderr.write(`${line}\n`)

const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true'])
    return true
  } catch {
    return false
  }
})()
const pinned = (core, command, args) =>
  hasTaskset ? ['taskset', ['-c', String(core), command, ...args]] : [command, args]

const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-metrics-'))
const children = new Set()
const cleanup = () => {
  for (const child of children) child.kill('SIGTERM')
  if (process.env.BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true })
}
process.on('SIGINT', () => {
  cleanup()
  process.exit(130)
})

log(
  `bench metrics: W1, W2 ${duration} s each (+${warmup} s warm-up) in ${rounds} rounds, one server at a time, ${hasTaskset ? 'the server on core 0, its load on core 1' : 'no taskset: unpinned'}`,
)
const dbFile = path.join(work, 'gatehouse.db')
const seeded = await seedDatabase(dbFile, { todos: 1_000_000 })
queueMails(dbFile, QUEUED_MAILS)
log(
  `bench metrics: seeded ${seeded.todos.toLocaleString('en')} todos and ${QUEUED_MAILS.toLocaleString('en')} queued mails in ${(seeded.ms / 1000).toFixed(1)} s`,
)

// ---- what counting one request costs, in this process ------------------------------------------
const perRequest = timeRecording()
log(
  `bench metrics: counting one request: ${perRequest.ours.toFixed(0)} ns (prom-client's own labelled inc + observe: ${perRequest.promClient.toFixed(0)} ns)`,
)

// ---- the background reading of the outbox, on its own ----------------------------------------
const reading = await timeOutboxReading(dbFile)
log(
  `bench metrics: outbox reading (${reading.depth.pending} pending): median ${reading.median.toFixed(2)} ms, max ${reading.max.toFixed(2)} ms of ${reading.runs}`,
)

// ---- servers --------------------------------------------------------------------------------
const common = {
  JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0123456789',
  ACCESS_TOKEN_TTL: '3600',
  NODE_ENV: 'production',
  DATABASE_URL: `sqlite:${dbFile}`,
  RATE_LIMIT: 'false',
}
const on = await start('metrics-on', await freePort(), { ...common, METRICS: 'true' })
const off = await start('metrics-off', await freePort(), { ...common, METRICS: 'false' })
// A second server without metrics, loaded with the other two: how far two identical servers
// differ in the same rounds is the noise the on/off difference has to stand out from.
const control = await start('control', await freePort(), { ...common, METRICS: 'false' })

const token = await accessToken(on.url, BENCH_USER, BENCH_PASSWORD)
const adminToken = await accessToken(on.url, ADMIN_USER, ADMIN_PASSWORD)
const keyAnswer = await fetch(`${on.url}/api/v1/profile/api-keys`, {
  method: 'POST',
  headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'prometheus' }),
})
if (keyAnswer.status !== 201) throw new Error(`API key: ${keyAnswer.status}`)
const scraperKey = (await keyAnswer.json()).key

// ---- W1, W2: on against off -----------------------------------------------------------------
const workloadsWith = (bearer) => [
  { id: 'w1', title: 'W1 GET /api/v1/public', request: { path: '/api/v1/public' } },
  {
    id: 'w2',
    title: 'W2 GET /api/v1/private (Bearer)',
    request: { path: '/api/v1/private', headers: { authorization: `Bearer ${bearer}` } },
  },
]
const workloads = workloadsWith(token)
const results = {}
for (const workload of workloads) {
  results[workload.id] = await measureSides([
    { name: 'on', server: on, request: workload.request },
    { name: 'off', server: off, request: workload.request },
    { name: 'control', server: control, request: workload.request },
  ])
  for (const [name, r] of Object.entries(results[workload.id]))
    log(
      `bench metrics: ${workload.title} metrics ${name}: ${r.requestsPerSecond.toFixed(0)} req/s (rounds ${r.rounds.join(', ')}), p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.cpuPerRequestUs.toFixed(1)} µs CPU/req, server busy ${r.busyPercent.toFixed(0)} %`,
    )
}

// ---- one scrape ------------------------------------------------------------------------------
const scrape = await timeScrapes(on, scraperKey)
log(
  `bench metrics: scrape (${scrape.bytes} bytes, ${scrape.series} series): p50 ${scrape.p50.toFixed(2)} ms, p99 ${scrape.p99.toFixed(2)} ms, ${scrape.cpuMs.toFixed(2)} ms server CPU each, of ${scrapes}`,
)
for (const server of [on, off, control]) server.child.kill('SIGTERM')

// ---- instructions per request (callgrind) ----------------------------------------------------
const instructions = callgrindRuns > 0 && hasCallgrind() ? await countInstructions() : undefined
cleanup()

// ---- report ----------------------------------------------------------------------------------
const percentBelow = (a, b) => (1 - a / b) * 100
const rows = workloads.map(({ id, title }) => {
  const { on: withMetrics, off: without, control: same } = results[id]
  const loss = percentBelow(withMetrics.requestsPerSecond, without.requestsPerSecond)
  const noise = percentBelow(same.requestsPerSecond, without.requestsPerSecond)
  // Requests a core could serve: 1 / CPU per request.
  const cpuLoss = percentBelow(without.cpuPerRequestUs, withMetrics.cpuPerRequestUs)
  const cpuNoise = percentBelow(without.cpuPerRequestUs, same.cpuPerRequestUs)
  return `| ${title} | ${without.requestsPerSecond.toFixed(0)} | ${withMetrics.requestsPerSecond.toFixed(0)} | ${loss.toFixed(1)} % | ${same.requestsPerSecond.toFixed(0)} (${noise.toFixed(1)} %) | ${without.cpuPerRequestUs.toFixed(1)} → ${withMetrics.cpuPerRequestUs.toFixed(1)} (${same.cpuPerRequestUs.toFixed(1)}) µs | ${cpuLoss.toFixed(1)} % (${cpuNoise.toFixed(1)} %) | ${without.busyPercent.toFixed(0)} / ${withMetrics.busyPercent.toFixed(0)} % | ${without.p99} → ${withMetrics.p99} ms |`
})
process.stdout.write(
  [
    `Metrics on against off (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, Node ${process.versions.node}, ${duration} s a workload in ${rounds} rounds, one server at a time on a core of its own, its load on the other, ${connections} connections)`,
    '',
    '| workload | off req/s | on req/s | loss | control req/s (its “loss”) | CPU/request off → on (control) | loss by CPU/request (control) | server busy off / on | p99 off → on |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    `Scrape of /metrics with ${seeded.todos.toLocaleString('en')} todos and ${QUEUED_MAILS.toLocaleString('en')} queued mails (${scrape.series} series, ${(scrape.bytes / 1024).toFixed(1)} KB): p50 ${scrape.p50.toFixed(2)} ms, p99 ${scrape.p99.toFixed(2)} ms, ${scrape.cpuMs.toFixed(2)} ms of server CPU each (${scrapes} scrapes, one at a time, an admin's API key).`,
    '',
    ...instructionsReport(),
    `Counting one request (method, route pattern, status and duration), in process: ${perRequest.ours.toFixed(0)} ns; with prom-client's labelled \`inc\` and \`observe\` it would be ${perRequest.promClient.toFixed(0)} ns.`,
    '',
    `Outbox reading (in the background every 15 s, never on a scrape) on that database: median ${reading.median.toFixed(2)} ms, max ${reading.max.toFixed(2)} ms (${reading.runs} readings; pending ${reading.depth.pending}, failed ${reading.depth.failed}).`,
    '',
  ].join('\n'),
)

// ---- helpers ---------------------------------------------------------------------------------

/**
 * W1 and W2 under callgrind, on and off in turn (`callgrindRuns` times each), on a database of
 * their own without the queued mails: under valgrind a request takes ~50 times as long, so work
 * done by the clock rather than by requests (the metrics' outbox reading every 15 s, 6–10 ms
 * with 100,000 pending mails) would weigh ~50 times its share. What is left of that kind (the
 * event-loop monitor's 100 samples a second) still counts ~50 times: an upper bound.
 */
async function countInstructions() {
  const file = path.join(work, 'callgrind.db')
  await seedDatabase(file, { todos: 0 })
  const runs = { on: [], off: [] }
  for (let run = 0; run < callgrindRuns; run++) {
    for (const [name, metrics] of [
      ['on', 'true'],
      ['off', 'false'],
    ]) {
      log(`bench metrics: callgrind, metrics ${name} (run ${run + 1} of ${callgrindRuns})`)
      runs[name].push(
        await instructionsPerRequest({
          name: `${name}-${run}`,
          script: path.join(root, 'dist', 'gatehouse.js'),
          cwd: work,
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            ...common,
            DATABASE_URL: `sqlite:${file}`,
            METRICS: metrics,
          },
          port: await freePort(),
          // The bearer token of that database's user, from the server under test.
          workloads: async (url) => {
            const bearer = await accessToken(url, BENCH_USER, BENCH_PASSWORD)
            return workloadsWith(bearer)
          },
          load,
          warm: 20_000,
          measured: 10_000,
        }),
      )
    }
  }
  const mean = (list, id) => list.reduce((sum, counts) => sum + counts[id], 0) / list.length
  return Object.fromEntries(
    workloads.map(({ id }) => [
      id,
      {
        on: mean(runs.on, id),
        off: mean(runs.off, id),
        runs: { on: runs.on.map((c) => c[id]), off: runs.off.map((c) => c[id]) },
      },
    ]),
  )
}

function instructionsReport() {
  if (instructions === undefined)
    return ['Instructions per request: not counted (valgrind missing or BENCH_CALLGRIND=0).', '']
  const thousands = (n) => `${(n / 1000).toFixed(1)}k`
  return [
    `Instructions per request under callgrind (${callgrindRuns} run${callgrindRuns === 1 ? '' : 's'} each, on a database without queued mails; 20,000 requests to warm, 10,000 counted; everything the process did meanwhile):`,
    '',
    '| workload | off | on | on − off |',
    '|---|---|---|---|',
    ...workloads.map(({ id, title }) => {
      const { on: withMetrics, off: without, runs } = instructions[id]
      const detail =
        callgrindRuns > 1
          ? ` (runs: off ${runs.off.map(thousands).join(', ')}; on ${runs.on.map(thousands).join(', ')})`
          : ''
      return `| ${title} | ${thousands(without)} | ${thousands(withMetrics)} | ${thousands(withMetrics - without)} (${(((withMetrics - without) / without) * 100).toFixed(1)} %)${detail} |`
    }),
    '',
  ]
}

/** ns per request recorded: ours, and prom-client's labelled counter and histogram for scale. */
function timeRecording() {
  const calls = 1_000_000
  const routes = ['/api/v1/public', '/api/v1/private', '/api/v1/todos/:id', '/api/v1/todos']
  const ours = createRequestMetrics(new Registry())
  const registry = new Registry()
  const counter = new Counter({
    name: 'c',
    help: 'c',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  })
  const histogram = new Histogram({
    name: 'h',
    help: 'h',
    labelNames: ['method', 'route'],
    registers: [registry],
  })
  const time = (record) => {
    let best = Number.POSITIVE_INFINITY
    for (let round = 0; round < 3; round++) {
      const started = performance.now()
      for (let i = 0; i < calls; i++) record(routes[i & 3], 0.0003 + (i & 7) * 0.0001, i)
      best = Math.min(best, ((performance.now() - started) * 1e6) / calls)
    }
    return best
  }
  return {
    // As the server does: each route's recorder made once, when the route is added.
    ours: (() => {
      const recorders = routes.map((route) => ours.route(route))
      return time((_route, seconds, i) => recorders[i & 3]('GET', 200, seconds))
    })(),
    promClient: time((route, seconds) => {
      counter.labels('GET', route, '200').inc()
      histogram.labels('GET', route).observe(seconds)
    }),
  }
}

/** `count` mails waiting for a retry tomorrow (SMTP down): queued, but not due during the run. */
function queueMails(file, count) {
  const db = new SQLite(file)
  db.pragma('journal_mode = WAL')
  const insert = db.prepare(
    `insert into outbox (id, kind, campaign_id, subscriber_id, recipient_name, recipient_email,
      message_id, payload, status, attempts, next_attempt_at, lease_until, last_error, created_at,
      sent_at)
     values (?, 'transactional', null, null, ?, ?, ?, ?, 'pending', 1, ?, null, ?, ?, null)`,
  )
  const now = Date.now()
  const tomorrow = new Date(now + 86_400_000).toISOString()
  db.transaction(() => {
    for (let n = 0; n < count; n++) {
      const id = uuidv7()
      insert.run(
        id,
        `Reader ${n}`,
        `reader${n}@example.org`,
        `<${id}@bench>`,
        JSON.stringify({ subject: 'Confirm', text: `Mail number ${n}` }),
        tomorrow,
        'connect ECONNREFUSED',
        // Queued over the last hour.
        new Date(now - 3_600_000 + Math.floor((n * 3_600_000) / count)).toISOString(),
      )
    }
  })()
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
}

async function timeOutboxReading(file) {
  const database = openDatabase({ kind: 'sqlite', path: file, synchronous: 'NORMAL' })
  const times = []
  let depth
  for (let i = 0; i < 50; i++) {
    const started = performance.now()
    depth = await readOutboxDepth(database.kysely, 'sqlite', 1_000_000)
    times.push(performance.now() - started)
  }
  await database.close()
  times.sort((a, b) => a - b)
  return { depth, runs: times.length, median: times[times.length >> 1], max: times.at(-1) }
}

/** A port nothing listens on now: other work on this machine may hold any fixed one. */
function freePort() {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

async function start(name, port, env) {
  const out = openSync(path.join(work, `${name}.log`), 'w')
  const [cmd, args] = pinned(0, process.execPath, [path.join(root, 'dist', 'gatehouse.js')])
  const child = spawn(cmd, args, {
    cwd: work,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), ...env },
    stdio: ['ignore', out, out],
  })
  children.add(child)
  const url = `http://127.0.0.1:${port}`
  const started = performance.now()
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited: see ${work}/${name}.log`)
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 5))
    if (performance.now() - started > 30_000) throw new Error(`${name} not ready in 30 s`)
  }
  // Ready, and still running: the answer came from this server, not another on the port.
  await new Promise((resolve) => setTimeout(resolve, 500))
  if (child.exitCode !== null) throw new Error(`${name} exited: see ${work}/${name}.log`)
  return { name, url, child }
}

async function accessToken(url, username, password) {
  const answer = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  })
  if (answer.status !== 200) throw new Error(`login ${username}: ${answer.status}`)
  return (await answer.json()).access_token
}

function load(options) {
  const [cmd, args] = pinned(1, process.execPath, [
    path.join(here, 'load.js'),
    JSON.stringify(options),
  ])
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    child.stdout.on('data', (chunk) => {
      text += chunk
    })
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`load.js exited ${code}`)),
    )
  })
}

/**
 * One server at a time, each pinned to core 0 with its load process on core 1, in rounds whose
 * order turns around each time (on off control, control off on, …), so a slow stretch of the
 * machine falls on every side alike. Each server then has a core to itself, as in production:
 * throughput and CPU time per request (from /proc) are its own. (Session 12 loaded the three at
 * once on one core; switching between them tripled the CPU a request took, 68 µs against 25 µs
 * alone, and its loss column measured the switching, not the metrics.)
 */
async function measureSides(sides) {
  const each = Math.max(1, Math.round(duration / rounds))
  const runs = Object.fromEntries(sides.map((side) => [side.name, []]))
  const loadOf = (side, seconds) =>
    load({
      url: `${side.server.url}${side.request.path}`,
      connections,
      ...side.request,
      duration: seconds,
    })
  if (warmup > 0) for (const side of sides) await loadOf(side, warmup)
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const before = cpuSeconds(side.server.child.pid)
      const result = await loadOf(side, each)
      result.cpu = cpuSeconds(side.server.child.pid) - before
      if (result.non2xx > 0 || result.errors > 0)
        log(
          `bench metrics: warning: ${side.name}: ${result.non2xx} non-2xx, ${result.errors} errors`,
        )
      runs[side.name].push(result)
    }
  }
  const merged = {}
  for (const [name, list] of Object.entries(runs)) {
    const total = list.reduce((sum, r) => sum + r.total, 0)
    const seconds = list.reduce((sum, r) => sum + r.duration, 0)
    const cpu = list.reduce((sum, r) => sum + r.cpu, 0)
    const mean = (key) => list.reduce((sum, r) => sum + r[key], 0) / list.length
    merged[name] = {
      requestsPerSecond: total / seconds,
      p50: mean('p50').toFixed(2),
      p99: mean('p99').toFixed(2),
      cpuPerRequestUs: (cpu / Math.max(total, 1)) * 1e6,
      // How much of its core the server used: near 100 % the server set the pace, well below
      // it the load process did, and CPU per request is then the figure to compare.
      busyPercent: (cpu / seconds) * 100,
      rounds: list.map((r) => Math.round(r.requestsPerSecond)),
    }
  }
  return merged
}

/** Scrapes one at a time, as Prometheus does: latency at the client, CPU at the server. */
async function timeScrapes(server, key) {
  const headers = { authorization: `Bearer ${key}` }
  // Warm: the route's first answers compile what later ones reuse.
  for (let i = 0; i < 20; i++) await (await fetch(`${server.url}/metrics`, { headers })).text()
  const times = []
  let body = ''
  const cpuBefore = cpuSeconds(server.child.pid)
  for (let i = 0; i < scrapes; i++) {
    const started = performance.now()
    const answer = await fetch(`${server.url}/metrics`, { headers })
    body = await answer.text()
    times.push(performance.now() - started)
    if (answer.status !== 200) throw new Error(`scrape: ${answer.status} ${body}`)
  }
  const cpuMs = ((cpuSeconds(server.child.pid) - cpuBefore) / scrapes) * 1000
  times.sort((a, b) => a - b)
  const series = body.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length
  if (!/^gatehouse_outbox_messages\{status="pending"\} 100000$/m.test(body))
    throw new Error('scrape: the outbox gauge does not show the queued mails')
  return {
    p50: times[Math.floor(times.length * 0.5)],
    p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))],
    cpuMs,
    bytes: Buffer.byteLength(body),
    series,
  }
}

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime: fields 14 and 15 of stat(5), 11 and 12 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100
}
