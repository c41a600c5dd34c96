// Several instances' costs, for `npm run bench -- scale` and docs/DEPLOY.md's capacity plan:
// - `measureNginx`: W2 through nginx against direct, one instance, in the same run: what the
//   proxy of deploy/nginx.conf costs in throughput, latency (p50, p99) and CPU per request;
// - `measureShared`: W2 on PostgreSQL and Redis (how instances share state) against SQLite:
//   CPU per request of the instance, of PostgreSQL and of Redis.
// Alone: `npm run build && node bench/instances.js`.
//
// Where taskset exists the instance and nginx share core 0 (as they share a machine's cores
// in production) and the load generator has core 1. The config is deploy/nginx.conf with only
// its upstream `server` lines and its `listen` line replaced, as test/multi-instance/nginx.ts
// does, inside the main-level lines an unprivileged nginx needs.
import { execFileSync, spawn } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { BENCH_PASSWORD, BENCH_USER, seedDatabase } from './seed.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)

function hasTaskset() {
  try {
    execFileSync('taskset', ['-c', '0', 'true'])
    return true
  } catch {
    return false
  }
}

function nginxBinary() {
  if (existsSync('/usr/sbin/nginx')) return '/usr/sbin/nginx'
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

function nginxConfig(upstream, port, dir) {
  const deployed = readFileSync(path.join(root, 'deploy', 'nginx.conf'), 'utf8')
  let first = true
  const http = deployed
    .replace(/^( *)server \S+:\d+( [^;]*)?;\n/gm, (_line, indent, options = '') => {
      if (!first) return ''
      first = false
      return `${indent}server ${upstream}${options};\n`
    })
    .replace(/^( *)listen 80;/m, `$1listen 127.0.0.1:${port};`)
  const temp = (name) => {
    const at = path.join(dir, name)
    mkdirSync(at, { recursive: true })
    return at
  }
  return `daemon off;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
${http}
}
`
}

const signed = (n) => `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(2)}`

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** The CPU of a process and its children that are still running (nginx's workers). */
function treeCpuSeconds(pid) {
  let total = cpuSeconds(pid)
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim()
  for (const child of children === '' ? [] : children.split(' ')) total += cpuSeconds(Number(child))
  return total
}

async function waitFor(url, child, what) {
  const started = Date.now()
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited`)
    try {
      if ((await fetch(url)).status === 200) return
    } catch {}
    if (Date.now() - started > 30_000) throw new Error(`${what} not ready in 30 s`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

function load(options, pinned) {
  const args = [path.join(here, 'load.js'), JSON.stringify(options)]
  const [cmd, cmdArgs] = pinned
    ? ['taskset', ['-c', '1', process.execPath, ...args]]
    : [process.execPath, args]
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

/**
 * Runs W2 (`GET /api/v1/private`, Bearer) against one instance directly and through nginx,
 * interleaved A B B A in `rounds` rounds of `duration / rounds` seconds after a warm-up of each.
 * Returns { direct, nginx, ratio, addedP50, addedP99 } (ms, req/s, CPU µs per request; for nginx
 * `cpuPerRequestUs` counts the instance and nginx together, `nginxCpuPerRequestUs` nginx alone).
 */
export async function measureNginx({
  duration = 10,
  warmup = 2,
  rounds = 2,
  connections = 10,
  log = (line) => process.stderr.write(`${line}\n`),
} = {}) {
  const nginx = nginxBinary()
  if (nginx === undefined) return { skipped: 'nginx is not installed' }
  const pinned = hasTaskset()
  const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-nginx-'))
  const children = []
  const spawnPinned = (command, args, options) => {
    const child = pinned
      ? spawn('taskset', ['-c', '0', command, ...args], options)
      : spawn(command, args, options)
    children.push(child)
    return child
  }
  try {
    const dbFile = path.join(work, 'gatehouse.db')
    await seedDatabase(dbFile, { todos: 0 })
    const port = 3910
    const instance = spawnPinned(process.execPath, [path.join(root, 'dist', 'gatehouse.js')], {
      cwd: work,
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        NODE_ENV: 'production',
        DATABASE_URL: `sqlite:${dbFile}`,
        JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0123456789',
        ACCESS_TOKEN_TTL: '3600',
        RATE_LIMIT: 'false',
        TRUSTED_PROXIES: '127.0.0.1',
      },
      stdio: ['ignore', openSync(path.join(work, 'gatehouse.log'), 'w'), 'inherit'],
    })
    const direct = `http://127.0.0.1:${port}`
    await waitFor(`${direct}/readyz`, instance, 'gatehouse')
    const nginxPort = 3911
    const config = path.join(work, 'nginx.conf')
    writeFileSync(config, nginxConfig(`127.0.0.1:${port}`, nginxPort, work))
    const proxy = spawnPinned(nginx, ['-p', work, '-e', 'stderr', '-c', config], {
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    const proxied = `http://127.0.0.1:${nginxPort}`
    await waitFor(`${proxied}/readyz`, proxy, 'nginx')

    const login = await fetch(`${direct}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: BENCH_USER, password: BENCH_PASSWORD }),
    })
    if (login.status !== 200) throw new Error(`login failed: ${login.status}`)
    const headers = { authorization: `Bearer ${(await login.json()).access_token}` }
    const sides = [
      { name: 'direct', url: direct },
      { name: 'nginx', url: proxied },
    ]
    const runOf = (side, seconds) =>
      load({ url: `${side.url}/api/v1/private`, headers, connections, duration: seconds }, pinned)
    for (const side of sides) await runOf(side, warmup)
    const runs = { direct: [], nginx: [] }
    const each = Math.max(1, Math.round(duration / rounds))
    for (let round = 0; round < rounds; round++) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const instanceBefore = cpuSeconds(instance.pid)
        const nginxBefore = treeCpuSeconds(proxy.pid)
        const result = await runOf(side, each)
        result.instanceCpu = cpuSeconds(instance.pid) - instanceBefore
        result.nginxCpu = treeCpuSeconds(proxy.pid) - nginxBefore
        if (result.non2xx > 0 || result.errors > 0)
          log(`bench: warning: ${side.name}: ${result.non2xx} non-2xx, ${result.errors} errors`)
        runs[side.name].push(result)
      }
    }
    const summary = (list, withNginx) => {
      const total = list.reduce((sum, r) => sum + r.total, 0)
      const seconds = list.reduce((sum, r) => sum + r.duration, 0)
      const mean = (key) => list.reduce((sum, r) => sum + r[key], 0) / list.length
      const instanceCpu = list.reduce((sum, r) => sum + r.instanceCpu, 0)
      const nginxCpu = list.reduce((sum, r) => sum + r.nginxCpu, 0)
      return {
        requestsPerSecond: total / seconds,
        p50: mean('p50'),
        p99: mean('p99'),
        cpuPerRequestUs: ((instanceCpu + (withNginx ? nginxCpu : 0)) / total) * 1e6,
        ...(withNginx ? { nginxCpuPerRequestUs: (nginxCpu / total) * 1e6 } : {}),
        rounds: list.map((r) => Math.round(r.requestsPerSecond)),
      }
    }
    const result = {
      direct: summary(runs.direct, false),
      nginx: summary(runs.nginx, true),
    }
    result.ratio = result.nginx.requestsPerSecond / result.direct.requestsPerSecond
    result.addedP50 = result.nginx.p50 - result.direct.p50
    result.addedP99 = result.nginx.p99 - result.direct.p99
    log(
      `bench: W2 through nginx: ${result.nginx.requestsPerSecond.toFixed(0)} req/s against ${result.direct.requestsPerSecond.toFixed(0)} direct (${result.ratio.toFixed(2)}), p50 ${signed(result.addedP50)} ms, p99 ${signed(result.addedP99)} ms, CPU ${result.nginx.cpuPerRequestUs.toFixed(0)} µs/req (nginx ${result.nginx.nginxCpuPerRequestUs.toFixed(0)}) against ${result.direct.cpuPerRequestUs.toFixed(0)}`,
    )
    return result
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 300))
    rmSync(work, { recursive: true, force: true })
  }
}

/** The CPU seconds of these processes together (one that ended counts nothing). */
function cpuOfAll(pids) {
  return pids.reduce((sum, pid) => {
    try {
      return sum + cpuSeconds(pid)
    } catch {
      return sum
    }
  }, 0)
}

function pidsOf(name) {
  try {
    return execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).trim().split('\n').map(Number)
  } catch {
    return []
  }
}

/**
 * W2 on one instance over SQLite, then over PostgreSQL + Redis (a throwaway database on
 * `postgresUrl`'s server, the Redis at `redisUrl`), each after a warm-up: throughput, latency
 * and CPU µs per request of the instance and, on the shared side, of the PostgreSQL backends
 * serving its database and of every redis-server process on this machine.
 */
export async function measureShared({
  duration = 10,
  warmup = 2,
  connections = 10,
  postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  redisUrl = 'redis://127.0.0.1:6379',
  log = (line) => process.stderr.write(`${line}\n`),
} = {}) {
  const pg = (await import('pg')).default
  const admin = new pg.Client({ connectionString: postgresUrl })
  try {
    await admin.connect()
  } catch {
    return { skipped: `no PostgreSQL at ${postgresUrl}` }
  }
  const pinned = hasTaskset()
  const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-bench-shared-'))
  const name = `gatehouse_bench_${Date.now()}`
  await admin.query(`create database ${name}`)
  const databaseUrl = new URL(postgresUrl)
  databaseUrl.pathname = `/${name}`
  const results = {}
  try {
    const sides = [
      { side: 'sqlite', env: { DATABASE_URL: `sqlite:${path.join(work, 'gatehouse.db')}` } },
      { side: 'shared', env: { DATABASE_URL: databaseUrl.toString(), REDIS_URL: redisUrl } },
    ]
    for (const [index, { side, env }] of sides.entries()) {
      const port = 3920 + index
      const args = [path.join(root, 'dist', 'gatehouse.js')]
      const instance = pinned
        ? spawn('taskset', ['-c', '0', process.execPath, ...args], {
            cwd: work,
            env: childEnv(port, env),
            stdio: 'ignore',
          })
        : spawn(process.execPath, args, { cwd: work, env: childEnv(port, env), stdio: 'ignore' })
      try {
        const url = `http://127.0.0.1:${port}`
        await waitFor(`${url}/readyz`, instance, side)
        const login = await fetch(`${url}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'benchadmin', password: 'admin-password-for-bench' }),
        })
        if (login.status !== 200) throw new Error(`${side}: login failed: ${login.status}`)
        const headers = { authorization: `Bearer ${(await login.json()).access_token}` }
        const run = (seconds) =>
          load({ url: `${url}/api/v1/private`, headers, connections, duration: seconds }, pinned)
        await run(warmup)
        // The backends of the instance's pool, open since the warm-up.
        const backends = (
          await admin.query('select pid from pg_stat_activity where datname = $1', [name])
        ).rows.map((row) => Number(row.pid))
        const redisServers = pidsOf('redis-server')
        const before = {
          instance: cpuSeconds(instance.pid),
          postgres: cpuOfAll(backends),
          redis: cpuOfAll(redisServers),
        }
        const result = await run(duration)
        const perRequest = (seconds) => (seconds / result.total) * 1e6
        results[side] = {
          requestsPerSecond: result.requestsPerSecond,
          p50: result.p50,
          p99: result.p99,
          cpuPerRequestUs: perRequest(cpuSeconds(instance.pid) - before.instance),
          ...(side === 'shared'
            ? {
                postgresCpuPerRequestUs: perRequest(cpuOfAll(backends) - before.postgres),
                redisCpuPerRequestUs: perRequest(cpuOfAll(redisServers) - before.redis),
              }
            : {}),
        }
      } finally {
        instance.kill('SIGTERM')
        await new Promise((resolve) => instance.once('exit', resolve))
      }
    }
    const { sqlite, shared } = results
    log(
      `bench: W2 on SQLite ${sqlite.requestsPerSecond.toFixed(0)} req/s, ${sqlite.cpuPerRequestUs.toFixed(0)} µs CPU/req; on PostgreSQL + Redis ${shared.requestsPerSecond.toFixed(0)} req/s, instance ${shared.cpuPerRequestUs.toFixed(0)} + PostgreSQL ${shared.postgresCpuPerRequestUs.toFixed(0)} + Redis ${shared.redisCpuPerRequestUs.toFixed(0)} µs CPU/req`,
    )
    return results
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`).catch(() => undefined)
    await admin.end()
    rmSync(work, { recursive: true, force: true })
  }
}

function childEnv(port, env) {
  return {
    PATH: process.env.PATH,
    PORT: String(port),
    NODE_ENV: 'production',
    JWT_SECRET: 'bench-secret-bench-secret-bench-secret-0123456789',
    ACCESS_TOKEN_TTL: '3600',
    RATE_LIMIT: 'false',
    ADMIN_USERNAME: 'benchadmin',
    ADMIN_PASSWORD: 'admin-password-for-bench',
    ...env,
  }
}

/** The table rows BENCHMARKS.md shows for a result of `measureShared`. */
export function sharedTable(result) {
  if (result.skipped !== undefined) return `W2 on PostgreSQL + Redis: skipped (${result.skipped})\n`
  const { sqlite, shared } = result
  return [
    '| W2 `GET /private` Bearer, one instance | req/s | p50 ms | p99 ms | instance CPU µs/req | PostgreSQL CPU µs/req | Redis CPU µs/req |',
    '|---|---:|---:|---:|---:|---:|---:|',
    `| SQLite | ${sqlite.requestsPerSecond.toFixed(0)} | ${sqlite.p50.toFixed(2)} | ${sqlite.p99.toFixed(2)} | ${sqlite.cpuPerRequestUs.toFixed(0)} | – | – |`,
    `| PostgreSQL + Redis | ${shared.requestsPerSecond.toFixed(0)} | ${shared.p50.toFixed(2)} | ${shared.p99.toFixed(2)} | ${shared.cpuPerRequestUs.toFixed(0)} | ${shared.postgresCpuPerRequestUs.toFixed(0)} | ${shared.redisCpuPerRequestUs.toFixed(0)} |`,
    '',
  ].join('\n')
}

/** The table rows BENCHMARKS.md shows for a result of `measureNginx`. */
export function nginxTable(result) {
  if (result.skipped !== undefined) return `W2 through nginx: skipped (${result.skipped})\n`
  const row = (name, r) =>
    `| ${name} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpuPerRequestUs.toFixed(0)} |`
  return [
    '| W2 `GET /private` Bearer, one instance | req/s | p50 ms | p99 ms | CPU µs/req |',
    '|---|---|---|---|---|',
    row('direct', result.direct),
    row(
      `through nginx (nginx alone ${result.nginx.nginxCpuPerRequestUs.toFixed(0)} µs/req)`,
      result.nginx,
    ),
    `| **nginx / direct** | **${result.ratio.toFixed(2)}** | **${signed(result.addedP50)}** | **${signed(result.addedP99)}** | **${(result.nginx.cpuPerRequestUs / result.direct.cpuPerRequestUs).toFixed(2)}×** |`,
    '',
  ].join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await measureNginx({
    duration: Number(process.env.BENCH_DURATION ?? 10),
    warmup: Number(process.env.BENCH_WARMUP ?? 2),
    rounds: Number(process.env.BENCH_ROUNDS ?? 2),
    connections: Number(process.env.BENCH_CONNECTIONS ?? 10),
  })
  process.stdout.write(`${nginxTable(result)}\n`)
  const shared = await measureShared({
    duration: Number(process.env.BENCH_DURATION ?? 10),
    warmup: Number(process.env.BENCH_WARMUP ?? 2),
    connections: Number(process.env.BENCH_CONNECTIONS ?? 10),
  })
  process.stdout.write(sharedTable(shared))
}
