// `npm run bench [-- group...]`: Gatehouse as it runs in production against a bare node:http
// baseline doing the same work, each loaded from a separate process. See BENCHMARKS.md.
//
// Groups: w1 w2 w3 w4 w5 w6 w7 w8 web (default: all). `todos`, `campaign`, `scale` and `metrics`
// hand over to bench/todos-bench.js, bench/campaign.js, bench/scale.js and bench/metrics-bench.js.
// `web` weighs the /app page.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { renderChart } from './chart.js'
import { BENCH_PASSWORD, BENCH_USER, seedDatabase } from './seed.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)
const args = process.argv.slice(2).map((a) => a.toLowerCase())

// ---- hand-over to the other suites ----------------------------------------------------------
const EXTERNAL = {
  todos: 'todos-bench.js',
  campaign: 'campaign.js',
  scale: 'scale.js',
  metrics: 'metrics-bench.js',
}
if (args[0] !== undefined && args[0] in EXTERNAL) {
  const file = path.join(here, EXTERNAL[args[0]])
  if (!existsSync(file)) {
    process.stderr.write(`bench: ${args[0]}: bench/${EXTERNAL[args[0]]} does not exist yet\n`)
    process.exit(1)
  }
  const child = spawn(process.execPath, [file, ...process.argv.slice(3)], { stdio: 'inherit' })
  child.on('exit', (code) => process.exit(code ?? 1))
} else {
  await main()
}

async function main() {
  const ALL = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8', 'web']
  const unknown = args.filter((a) => !ALL.includes(a))
  if (unknown.length > 0) {
    process.stderr.write(
      `bench: unknown group ${unknown.join(', ')}; use ${ALL.join(' ')} todos campaign scale metrics\n`,
    )
    process.exit(2)
  }
  const groups = new Set(args.length === 0 ? ALL : args)
  const full = groups.size === ALL.length
  const duration = Number(process.env.BENCH_DURATION ?? 10)
  const warmup = Number(process.env.BENCH_WARMUP ?? 2)
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 10)
  const hasTaskset = (() => {
    try {
      execFileSync('taskset', ['-c', '0', 'true'])
      return true
    } catch {
      return false
    }
  })()
  const pinned = (core, command, commandArgs) =>
    hasTaskset ? ['taskset', ['-c', String(core), command, ...commandArgs]] : [command, commandArgs]

  const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-'))
  const children = new Set()
  const cleanup = () => {
    for (const child of children) child.kill('SIGTERM')
    if (process.env.BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true })
  }
  process.on('SIGINT', () => {
    cleanup()
    process.exit(130)
  })

  const log = (line) => process.stderr.write(`${line}\n`)
  log(
    `bench: ${full ? 'all workloads' : [...groups].join(' ')}, ${duration} s each (+${warmup} s warm-up), ${hasTaskset ? 'server on core 0, load on core 1' : 'no taskset: unpinned'}`,
  )

  // ---- database -------------------------------------------------------------------------------
  const dbFile = path.join(work, 'gatehouse.db')
  const seeded = await seedDatabase(dbFile, { todos: groups.has('w5') ? 1_000_000 : 0 })
  log(
    `bench: seeded ${seeded.todos.toLocaleString('en')} todos in ${(seeded.ms / 1000).toFixed(1)} s`,
  )

  const jwtSecret = 'bench-secret-bench-secret-bench-secret-0123456789'
  const common = { JWT_SECRET: jwtSecret, ACCESS_TOKEN_TTL: '3600' }

  // ---- argon2 ceiling -------------------------------------------------------------------------
  let argon2 = null
  if (groups.has('w4')) {
    const [cmd, cmdArgs] = pinned(0, process.execPath, [path.join(here, 'argon2-rate.js'), '5'])
    argon2 = JSON.parse(execFileSync(cmd, cmdArgs, { encoding: 'utf8' }))
    log(
      `bench: argon2id alone on one core: ${argon2.rates.map((r) => `${r.hashesPerSecond.toFixed(1)} hashes/s at ${r.concurrency} in flight`).join(', ')}; ceiling ${argon2.hashesPerSecond.toFixed(1)}`,
    )
  }

  // ---- servers --------------------------------------------------------------------------------
  async function start(name, script, port, env) {
    const out = openSync(path.join(work, `${name}.log`), 'w')
    const [cmd, cmdArgs] = pinned(0, process.execPath, [
      ...(process.env[`BENCH_${name.toUpperCase()}_NODE_ARGS`] ?? '').split(' ').filter(Boolean),
      script,
    ])
    const started = performance.now()
    const child = spawn(cmd, cmdArgs, {
      cwd: work,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), ...env },
      stdio: ['ignore', out, out],
    })
    children.add(child)
    const url = `http://127.0.0.1:${port}`
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} exited: see ${work}/${name}.log`)
      try {
        const response = await fetch(`${url}/readyz`)
        if (response.status === 200) break
      } catch {}
      await new Promise((resolve) => setTimeout(resolve, 5))
      if (performance.now() - started > 30_000) throw new Error(`${name} not ready in 30 s`)
    }
    const startupMs = performance.now() - started
    await new Promise((resolve) => setTimeout(resolve, 1000))
    return {
      name,
      url,
      child,
      startupMs,
      readyAt: performance.now(),
      startRss: rss(child.pid).current,
    }
  }
  const gatehouse = await start('gatehouse', path.join(root, 'dist', 'gatehouse.js'), 3900, {
    ...common,
    NODE_ENV: 'production',
    DATABASE_URL: `sqlite:${dbFile}`,
    RATE_LIMIT: 'false',
    // W5 compares reading a page from the database with the baseline, which does just that;
    // a repeated page from Gatehouse's page cache is measured by bench:todos.
    TODO_LIST_CACHE_MB: '0',
  })
  const baseline = await start('baseline', path.join(here, 'baseline.js'), 3901, {
    ...common,
    DATABASE: dbFile,
    BASELINE_LOG: process.env.BENCH_BASELINE_LOG ?? '1',
  })
  const servers = [gatehouse, baseline]
  for (const s of servers)
    log(
      `bench: ${s.name} ready in ${s.startupMs.toFixed(0)} ms, ${s.startRss.toFixed(0)} MB 1 s later`,
    )
  // Idle RSS once V8 has settled: its memory reducer gives back the start-up garbage after some
  // seconds without work. Sampled each second for BENCH_IDLE_SECONDS; the lowest is the idle RSS.
  const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 45)
  for (const s of servers) s.idleRss = s.startRss
  while (performance.now() - gatehouse.readyAt < idleSeconds * 1000) {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    for (const s of servers) s.idleRss = Math.min(s.idleRss, rss(s.child.pid).current)
  }
  for (const s of servers)
    log(`bench: ${s.name} idle RSS ${s.idleRss.toFixed(0)} MB after ${idleSeconds} s`)

  const login = await fetch(`${gatehouse.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: BENCH_USER, password: BENCH_PASSWORD }),
  })
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`)
  const token = (await login.json()).access_token
  const bearer = { authorization: `Bearer ${token}` }
  const basic = {
    authorization: `Basic ${Buffer.from(`${BENCH_USER}:${BENCH_PASSWORD}`).toString('base64')}`,
  }
  const loginRequest = {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: BENCH_USER, password: BENCH_PASSWORD }),
  }

  // ---- load -----------------------------------------------------------------------------------
  function load(options) {
    const [cmd, cmdArgs] = pinned(1, process.execPath, [
      path.join(here, 'load.js'),
      JSON.stringify(options),
    ])
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, cmdArgs, { stdio: ['ignore', 'pipe', 'inherit'] })
      let text = ''
      child.stdout.on('data', (chunk) => {
        text += chunk
      })
      child.on('exit', (code) =>
        code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`load.js exited ${code}`)),
      )
    })
  }
  // Both servers, interleaved A B B A … in short rounds, so that drift in the machine's load
  // (this host is shared) falls on both alike. CPU time per request is read from /proc.
  const measurePair = (request) =>
    measureSides(servers.map((server) => ({ name: server.name, server, request })))

  /** Named sides (a server and a request each), measured in interleaved rounds. */
  async function measureSides(sides) {
    const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2))
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
      const order = round % 2 === 0 ? sides : [...sides].reverse()
      for (const side of order) {
        const before = cpuSeconds(side.server.child.pid)
        const result = await loadOf(side, each)
        result.cpu = cpuSeconds(side.server.child.pid) - before
        if (result.non2xx > 0 || result.errors > 0)
          log(
            `bench: warning: ${side.name} ${side.request.path}: ${result.non2xx} non-2xx, ${result.errors} errors`,
          )
        runs[side.name].push(result)
      }
    }
    const merged = {}
    for (const [name, list] of Object.entries(runs)) {
      const mean = (key) => list.reduce((sum, r) => sum + r[key], 0) / list.length
      const total = list.reduce((sum, r) => sum + r.total, 0)
      const seconds = list.reduce((sum, r) => sum + r.duration, 0)
      merged[name] = {
        requestsPerSecond: total / seconds,
        total,
        p50: mean('p50'),
        p99: mean('p99'),
        cpuPerRequestUs: (list.reduce((sum, r) => sum + r.cpu, 0) / Math.max(total, 1)) * 1e6,
        rounds: list.map((r) => Math.round(r.requestsPerSecond)),
      }
    }
    return merged
  }

  const results = {}
  const workloads = [
    { id: 'w1', title: 'W1 GET /api/v1/public', request: { path: '/api/v1/public' } },
    {
      id: 'w2',
      title: 'W2 GET /api/v1/private (Bearer)',
      request: { path: '/api/v1/private', headers: bearer },
    },
    {
      id: 'w3',
      title: 'W3 GET /api/v1/private (Basic)',
      request: { path: '/api/v1/private', headers: basic },
    },
    {
      id: 'w4',
      title: 'W4 POST /api/v1/auth/login',
      request: { path: '/api/v1/auth/login', ...loginRequest, connections: 16 },
    },
    {
      id: 'w5',
      title: 'W5 GET /api/v1/todos?limit=20 (10k of 1M)',
      request: { path: '/api/v1/todos?limit=20', headers: bearer },
    },
  ]
  for (const workload of workloads) {
    if (!groups.has(workload.id)) continue
    if (workload.id === 'w5') {
      const probe = await fetch(`${gatehouse.url}/api/v1/todos?limit=20`, { headers: bearer })
      if (probe.status !== 200 || seeded.todos === 0) {
        log(
          `bench: W5 skipped: GET /api/v1/todos answers ${probe.status}${seeded.todos === 0 ? ', no todos table' : ''}`,
        )
        results.w5 = { skipped: `n/a (no todos route: ${probe.status})` }
        continue
      }
    }
    results[workload.id] = await measurePair(workload.request)
    for (const server of servers) {
      const r = results[workload.id][server.name]
      log(
        `bench: ${workload.title} ${server.name}: ${r.requestsPerSecond.toFixed(0)} req/s (rounds ${r.rounds.join(', ')}), p50 ${ms(r.p50)} ms, p99 ${ms(r.p99)} ms, ${r.cpuPerRequestUs.toFixed(0)} µs CPU/req`,
      )
    }
  }

  // W7: the web UI's session cookie against Bearer, on Gatehouse alone (the baseline has no
  // cookie sessions), in the same interleaved rounds.
  if (groups.has('w7')) {
    const signIn = await fetch(`${gatehouse.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: BENCH_USER, password: BENCH_PASSWORD }),
      redirect: 'manual',
    })
    const session = signIn.headers
      .getSetCookie()
      .map((line) => line.split(';')[0])
      .find((pair) => pair.startsWith('gh_session='))
    if (signIn.status !== 303 || session === undefined)
      throw new Error(`W7: sign-in answered ${signIn.status}`)
    results.w7 = await measureSides([
      {
        name: 'cookie',
        server: gatehouse,
        request: { path: '/api/v1/private', headers: { cookie: session } },
      },
      { name: 'bearer', server: gatehouse, request: { path: '/api/v1/private', headers: bearer } },
    ])
    for (const [name, r] of Object.entries(results.w7))
      log(
        `bench: W7 GET /api/v1/private (${name}): ${r.requestsPerSecond.toFixed(0)} req/s (rounds ${r.rounds.join(', ')}), p50 ${ms(r.p50)} ms, p99 ${ms(r.p99)} ms, ${r.cpuPerRequestUs.toFixed(0)} µs CPU/req`,
      )
  }

  if (groups.has('web')) {
    results.web = await pageWeight(gatehouse.url, '/app')
    log(
      `bench: web: /app weighs ${kb(results.web.total)} KB as served to a browser that accepts br (${results.web.files.map((f) => `${f.path} ${kb(f.bytes)} KB`).join(', ')})`,
    )
  }

  if (groups.has('w6')) {
    results.w6 = {}
    const probe = { path: '/api/v1/private', headers: bearer, connections: 5, rate: 50 }
    for (const server of servers) {
      const idle = await load({ url: `${server.url}${probe.path}`, ...probe, duration })
      const storm = load({
        url: `${server.url}/api/v1/auth/login`,
        ...loginRequest,
        connections: 16,
        duration: duration + 2,
      })
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const during = await load({ url: `${server.url}${probe.path}`, ...probe, duration })
      const stormResult = await storm
      results.w6[server.name] = { idle, storm: during, logins: stormResult }
      log(
        `bench: W6 ${server.name}: p99 idle ${idle.p99} ms, during storm ${during.p99} ms (${stormResult.requestsPerSecond.toFixed(1)} logins/s)`,
      )
    }
  }

  for (const s of servers) s.peakRss = rss(s.child.pid).peak

  // W8: a correct login's latency while 50 connections send wrong Basic passwords, on a
  // Gatehouse with its limits on (Gatehouse only: the baseline has no limiter). The server
  // trusts this host's X-Forwarded-For, so each side can play other clients.
  if (groups.has('w8')) {
    const limited = await start(
      'gatehouse-limited',
      path.join(root, 'dist', 'gatehouse.js'),
      3902,
      {
        ...common,
        NODE_ENV: 'production',
        DATABASE_URL: `sqlite:${dbFile}`,
        RATE_LIMIT: 'true',
        TRUSTED_PROXIES: '127.0.0.1',
        LOG_LEVEL: 'warn',
      },
    )
    const owner = { 'x-forwarded-for': '198.51.100.7' }
    const ownerLogin = { ...loginRequest, headers: { ...loginRequest.headers, ...owner } }
    const first = await fetch(`${limited.url}/api/v1/auth/login`, ownerLogin)
    if (first.status !== 200) throw new Error(`W8: owner login ${first.status}`)
    const wrongBasic = {
      authorization: `Basic ${Buffer.from(`${BENCH_USER}:not the password`).toString('base64')}`,
    }
    // The owner's logins at a fixed 5 a second: fewer than the 600-a-minute request limit.
    const probe = { path: '/api/v1/auth/login', ...ownerLogin, connections: 1, rate: 5 }
    const floods = [
      {
        id: 'one',
        title: 'one client, the owner’s account',
        headers: { ...wrongBasic, 'x-forwarded-for': '203.0.113.9' },
      },
      {
        id: 'many',
        title: 'a new client each try, the owner’s account',
        headers: wrongBasic,
        randomClient: true,
      },
      {
        id: 'spray',
        title: 'a new client each try, made-up accounts',
        headers: wrongBasic,
        randomClient: true,
        randomBasicUser: true,
      },
    ]
    const idle = await load({ url: `${limited.url}${probe.path}`, ...probe, duration })
    results.w8 = { idle, floods: [] }
    log(`bench: W8 idle: correct login p50 ${ms(idle.p50)} ms, p99 ${ms(idle.p99)} ms`)
    for (const flood of floods) {
      const before = cpuSeconds(limited.child.pid)
      const running = load({
        url: `${limited.url}/api/v1/private`,
        headers: flood.headers,
        randomClient: flood.randomClient,
        randomBasicUser: flood.randomBasicUser,
        connections: 50,
        duration: duration + 2,
      })
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const during = await load({ url: `${limited.url}${probe.path}`, ...probe, duration })
      const floodResult = await running
      const cpu = cpuSeconds(limited.child.pid) - before
      results.w8.floods.push({ ...flood, during, flood: floodResult, cpu })
      log(
        `bench: W8 flood (${flood.title}): correct login p50 ${ms(during.p50)} ms, p99 ${ms(during.p99)} ms (${during.non2xx} non-2xx); flood ${floodResult.requestsPerSecond.toFixed(0)} req/s, ${floodResult.non2xx} non-2xx`,
      )
    }
    limited.child.kill('SIGTERM')
  }
  cleanup()

  // ---- report ---------------------------------------------------------------------------------
  const report = buildReport({
    results,
    gatehouse,
    baseline,
    argon2,
    seeded,
    duration,
    connections,
    hasTaskset,
  })
  process.stdout.write(`${report.markdown}\n`)
  if (full || process.env.BENCH_SAVE === '1') {
    const resultsDir = path.join(here, 'results')
    writeFileSync(path.join(resultsDir, 'latest.md'), `${report.markdown}\n`)
    writeFileSync(path.join(resultsDir, 'latest.json'), `${JSON.stringify(report.data, null, 2)}\n`)
    writeFileSync(path.join(resultsDir, 'latest.png'), renderChart(report.data))
    log('bench: wrote bench/results/latest.md and latest.png')
  }
}

function kb(bytes) {
  return (bytes / 1024).toFixed(1)
}

/** One GET with the bytes as they came over the wire: fetch would decompress them. */
function rawGet(url, headers) {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { headers }, (response) => {
      const chunks = []
      response.on('data', (chunk) => chunks.push(chunk))
      response.on('end', () =>
        resolve({
          status: response.statusCode,
          headers: response.headers,
          body: Buffer.concat(chunks),
        }),
      )
      response.on('error', reject)
    })
    request.on('error', reject)
    request.end()
  })
}

/**
 * The weight of one page of the web UI for a signed-in browser with an empty cache: the shell,
 * then every /assets file it links (stylesheet, module script, preloaded chunks), compressed
 * as served to a browser that accepts br and gzip; and the same uncompressed.
 */
async function pageWeight(base, pagePath) {
  const signIn = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: BENCH_USER, password: BENCH_PASSWORD }),
    redirect: 'manual',
  })
  const cookie = signIn.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .join('; ')
  if (signIn.status !== 303) throw new Error(`web: sign-in answered ${signIn.status}`)
  const accept = { 'accept-encoding': 'br, gzip' }
  const shell = await rawGet(`${base}${pagePath}`, { cookie, ...accept })
  if (shell.status !== 200) throw new Error(`web: ${pagePath} answered ${shell.status}`)
  const html = shell.body.toString('utf8')
  const links = [
    ...new Set([...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1])),
  ]
  if (links.length === 0) throw new Error(`web: ${pagePath} links no assets (is dist/ui built?)`)
  const files = [
    {
      path: pagePath,
      encoding: shell.headers['content-encoding'],
      bytes: shell.body.length,
      identity: shell.body.length,
    },
  ]
  for (const link of links) {
    const served = await rawGet(`${base}${link}`, accept)
    const plain = await rawGet(`${base}${link}`, {})
    if (served.status !== 200) throw new Error(`web: ${link} answered ${served.status}`)
    files.push({
      path: link,
      encoding: served.headers['content-encoding'],
      bytes: served.body.length,
      identity: plain.body.length,
    })
  }
  const sum = (key) => files.reduce((total, file) => total + file[key], 0)
  return { page: pagePath, files, total: sum('bytes'), totalIdentity: sum('identity') }
}

/** User + system CPU seconds the process has used so far. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // utime and stime are fields 14 and 15 of stat(5): 11 and 12 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100
}

function rss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0)
  return { current: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}

function fmt(n, digits = 0) {
  return n === undefined || n === null ? '–' : Number(n).toFixed(digits)
}
function ms(n) {
  return n === undefined || n === null ? '–' : Number(n).toFixed(n < 10 ? 2 : 1)
}

function buildReport({
  results,
  gatehouse,
  baseline,
  argon2,
  seeded,
  duration,
  connections,
  hasTaskset,
}) {
  const rows = []
  const checks = []
  const check = (name, value, target, met, shown) =>
    checks.push({ name, value, target, met, shown })
  const line = (title, r, ratio, target) => {
    const g = r?.gatehouse
    const b = r?.baseline
    rows.push(
      `| ${title} | ${fmt(g?.requestsPerSecond)} | ${ms(g?.p50)} | ${ms(g?.p99)} | ${fmt(g?.cpuPerRequestUs)} | ${fmt(b?.requestsPerSecond)} | ${ms(b?.p50)} | ${ms(b?.p99)} | ${fmt(b?.cpuPerRequestUs)} | ${ratio === undefined ? '–' : ratio.toFixed(2)} | ${g && b ? (b.cpuPerRequestUs / g.cpuPerRequestUs).toFixed(2) : '–'} | ${target} |`,
    )
  }
  const ratioOf = (r) => r.gatehouse.requestsPerSecond / r.baseline.requestsPerSecond
  if (results.w1) {
    const ratio = ratioOf(results.w1)
    line('W1 `GET /public`', results.w1, ratio, '≥ 0.85')
    check('W1 public', ratio, 0.85, ratio >= 0.85, `${ratio.toFixed(2)} of baseline`)
  }
  if (results.w2) {
    const ratio = ratioOf(results.w2)
    line('W2 `GET /private` Bearer', results.w2, ratio, '≥ 0.85')
    check('W2 Bearer', ratio, 0.85, ratio >= 0.85, `${ratio.toFixed(2)} of baseline`)
  }
  if (results.w3) {
    const own = results.w2
      ? results.w3.gatehouse.requestsPerSecond / results.w2.gatehouse.requestsPerSecond
      : undefined
    line(
      'W3 `GET /private` Basic',
      results.w3,
      ratioOf(results.w3),
      `≥ 0.5 of own W2: ${own === undefined ? '–' : own.toFixed(2)}`,
    )
    if (own !== undefined)
      check('W3 Basic / own W2', own, 0.5, own >= 0.5, `${own.toFixed(2)} of own W2`)
  }
  if (results.w4) {
    const ceiling = argon2.hashesPerSecond
    const own = results.w4.gatehouse.requestsPerSecond / ceiling
    // The same by CPU: argon2's CPU per hash over Gatehouse's CPU per login.
    const byCpu = (argon2.cpuMsPerHash * 1000) / results.w4.gatehouse.cpuPerRequestUs
    line(
      'W4 `POST /auth/login`',
      results.w4,
      ratioOf(results.w4),
      `≥ 0.9 of argon2 alone (${ceiling.toFixed(1)}/s): ${own.toFixed(2)}; by CPU ${byCpu.toFixed(2)}`,
    )
    check(
      'W4 login / argon2',
      own,
      0.9,
      own >= 0.9,
      `${own.toFixed(2)} of argon2 (CPU ${byCpu.toFixed(2)})`,
    )
  }
  if (results.w5?.skipped) {
    rows.push(
      `| W5 \`GET /todos?limit=20\` (10k of 1M) | ${results.w5.skipped} | | | | | | | | | | ≥ 0.85 |`,
    )
  } else if (results.w5) {
    const ratio = ratioOf(results.w5)
    line('W5 `GET /todos?limit=20` (10k of 1M)', results.w5, ratio, '≥ 0.85')
    check('W5 todos', ratio, 0.85, ratio >= 0.85, `${ratio.toFixed(2)} of baseline`)
  }
  if (results.w7) {
    const { cookie, bearer } = results.w7
    const ratio = cookie.requestsPerSecond / bearer.requestsPerSecond
    rows.push(
      `| W7 \`GET /private\` session cookie | ${fmt(cookie.requestsPerSecond)} | ${ms(cookie.p50)} | ${ms(cookie.p99)} | ${fmt(cookie.cpuPerRequestUs)} | Bearer, same rounds: ${fmt(bearer.requestsPerSecond)} | ${ms(bearer.p50)} | ${ms(bearer.p99)} | ${fmt(bearer.cpuPerRequestUs)} | ${ratio.toFixed(2)} of Bearer | ${(bearer.cpuPerRequestUs / cookie.cpuPerRequestUs).toFixed(2)} | ≥ 0.9 of Bearer |`,
    )
    check('W7 cookie / Bearer', ratio, 0.9, ratio >= 0.9, `${ratio.toFixed(2)} of Bearer`)
  }
  const w6rows = []
  if (results.w6) {
    for (const name of ['gatehouse', 'baseline']) {
      const r = results.w6[name]
      const factor = r.storm.p99 / Math.max(r.idle.p99, 0.001)
      w6rows.push(
        `| ${name} | ${ms(r.idle.p50)} | ${ms(r.idle.p99)} | ${ms(r.storm.p50)} | ${ms(r.storm.p99)} | ${factor.toFixed(2)}× | ${fmt(r.logins.requestsPerSecond, 1)} |`,
      )
      if (name === 'gatehouse')
        check('W6 storm p99 / idle p99', factor, 3, factor <= 3, `${factor.toFixed(2)}×`)
    }
  }
  const w8rows = []
  if (results.w8) {
    const idle = results.w8.idle
    for (const flood of results.w8.floods) {
      const factor = flood.during.p99 / Math.max(idle.p99, 0.001)
      w8rows.push(
        `| ${flood.title} | ${fmt(flood.flood.requestsPerSecond)} | ${ms(idle.p50)} | ${ms(idle.p99)} | ${ms(flood.during.p50)} | ${ms(flood.during.p99)} | ${factor.toFixed(2)}× | ${flood.during.non2xx} |`,
      )
      check(`W8 ${flood.id}: flood p99 / idle p99`, factor, 3, factor <= 3, `${factor.toFixed(2)}×`)
    }
  }
  const webRows = []
  if (results.web) {
    for (const file of results.web.files) {
      webRows.push(
        `| \`${file.path}\` | ${file.encoding ?? 'none'} | ${kb(file.bytes)} | ${kb(file.identity)} |`,
      )
    }
    webRows.push(
      `| **total** | | **${kb(results.web.total)}** | ${kb(results.web.totalIdentity)} |`,
    )
    const total = results.web.total / 1024
    check('web /app page weight', total, 100, total <= 100, `${total.toFixed(1)} KB`)
  }
  check(
    'startup',
    gatehouse.startupMs,
    1000,
    gatehouse.startupMs <= 1000,
    `${gatehouse.startupMs.toFixed(0)} ms`,
  )
  check(
    'idle RSS',
    gatehouse.idleRss,
    100,
    gatehouse.idleRss <= 100,
    `${gatehouse.idleRss.toFixed(0)} MB`,
  )
  check(
    'peak RSS',
    gatehouse.peakRss,
    200,
    gatehouse.peakRss <= 200,
    `${gatehouse.peakRss.toFixed(0)} MB`,
  )

  const when = new Date().toISOString().slice(0, 16).replace('T', ' ')
  const markdown = [
    `Gatehouse vs bare node:http baseline — ${when} UTC, Node ${process.version}, ${duration} s per workload, ${connections} connections (W4: 16), no pipelining, ${hasTaskset ? 'server on core 0, autocannon on core 1' : 'unpinned'}.`,
    '',
    '| workload | Gatehouse req/s | p50 ms | p99 ms | CPU µs/req | baseline req/s | p50 ms | p99 ms | CPU µs/req | Gatehouse / baseline (req/s) | same by CPU/req | target |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows,
    ...(w6rows.length > 0
      ? [
          '',
          'W6: `GET /private` (Bearer) at a fixed 50 req/s, idle and during a 16-connection login storm (target: storm p99 ≤ 3× idle p99).',
          '',
          '| server | idle p50 ms | idle p99 ms | storm p50 ms | storm p99 ms | p99 storm/idle | logins/s in storm |',
          '|---|---:|---:|---:|---:|---:|---:|',
          ...w6rows,
        ]
      : []),
    ...(w8rows.length > 0
      ? [
          '',
          'W8: the owner’s correct login (from a client it used before) at a fixed 5 a second, idle and while 50 connections send wrong Basic passwords to `GET /private`, `RATE_LIMIT=true` (target: flood p99 ≤ 3× idle p99).',
          '',
          '| flood | flood req/s | idle p50 ms | idle p99 ms | flood p50 ms | flood p99 ms | p99 flood/idle | owner non-2xx |',
          '|---|---:|---:|---:|---:|---:|---:|---:|',
          ...w8rows,
        ]
      : []),
    ...(webRows.length > 0
      ? [
          '',
          'web: what a signed-in browser downloads for `/app` with an empty cache: the page shell and every asset it links, as served with `Accept-Encoding: br, gzip` (target: ≤ 100 KB).',
          '',
          '| file | encoding | KB as served | KB uncompressed |',
          '|---|---|---:|---:|',
          ...webRows,
        ]
      : []),
    '',
    '| process | startup (to `/readyz` 200) | RSS 1 s after ready | idle RSS (settled) | peak RSS |',
    '|---|---:|---:|---:|---:|',
    ...[gatehouse, baseline].map(
      (s) =>
        `| ${s.name} | ${s.startupMs.toFixed(0)} ms | ${s.startRss.toFixed(0)} MB | ${s.idleRss.toFixed(0)} MB | ${s.peakRss.toFixed(0)} MB |`,
    ),
    '',
    `Targets: ${checks.map((c) => `${c.met ? '✅' : '❌'} ${c.name} ${c.shown}`).join(' · ')}`,
    ...(argon2
      ? [
          '',
          `argon2id alone (19 MiB, t=2, p=1) on the server's core: ${argon2.hashesPerSecond.toFixed(1)} hashes/s (${argon2.msPerHash.toFixed(1)} ms each at ${argon2.concurrency} in flight, ${argon2.cpuMsPerHash.toFixed(1)} ms CPU each).`,
        ]
      : []),
    ...(seeded.todos > 0
      ? [`Seeded ${seeded.todos.toLocaleString('en')} todos in ${(seeded.ms / 1000).toFixed(1)} s.`]
      : []),
  ].join('\n')
  return {
    markdown,
    data: {
      when,
      node: process.version,
      duration,
      results,
      argon2,
      checks,
      processes: [gatehouse, baseline].map((s) => ({
        name: s.name,
        startupMs: s.startupMs,
        startRss: s.startRss,
        idleRss: s.idleRss,
        peakRss: s.peakRss,
      })),
    },
  }
}
