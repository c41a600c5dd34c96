// `npm run bench -- scale [part...]`: does adding processes add throughput, and at what cost per
// request? Each part is a module with `run(context)` that returns { markdown, data }; the parts
// share one seeded database and the helpers below. Parts: workers (WORKERS=1 against WORKERS=2),
// check (the cost of the SQLite cross-process check per request), limits (the request limit
// counted in the cluster primary), nginx (W2 through nginx against direct: bench/scale-nginx.js).
//
// Unlike the other workloads nothing is pinned: several processes must spread over the cores,
// and the load generator shares them, so on this 2-core machine throughput cannot double.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { BENCH_PASSWORD, BENCH_USER, seedDatabase } from './seed.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.dirname(here)

/** name → module file in bench/; a part whose file is missing is skipped with a line. */
const PARTS = {
  workers: 'scale-workers.js',
  check: 'scale-check.js',
  limits: 'scale-limits.js',
  nginx: 'scale-nginx.js',
}

const log = (line) => process.stderr.write(`${line}\n`)

/** User + system CPU seconds of a process and its live children (a cluster's workers). */
export function treeCpuSeconds(pid) {
  const stat = (id) => {
    try {
      const text = readFileSync(`/proc/${id}/stat`, 'utf8')
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
      // utime and stime are fields 14 and 15 of stat(5): 11 and 12 after the command name.
      return (Number(fields[11]) + Number(fields[12])) / 100
    } catch {
      return 0
    }
  }
  let children = []
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)
  } catch {}
  return [pid, ...children.filter(Boolean).map(Number)].reduce((sum, id) => sum + stat(id), 0)
}

/** One load run in its own process (bench/load.js, autocannon); resolves with its summary. */
export function load(options) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'load.js'), JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let text = ''
    child.stdout.on('data', (chunk) => {
      text += chunk
    })
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`load.js exited ${code}`)),
    )
  })
}

async function main() {
  const wanted = process.argv.slice(2).map((a) => a.toLowerCase())
  const names = wanted.length === 0 ? Object.keys(PARTS) : wanted
  const unknown = names.filter((name) => !(name in PARTS))
  if (unknown.length > 0) {
    log(`bench scale: unknown part ${unknown.join(', ')}; use ${Object.keys(PARTS).join(' ')}`)
    process.exit(2)
  }
  const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-scale-'))
  const children = new Set()
  const cleanup = () => {
    for (const child of children) child.kill('SIGTERM')
    if (process.env.BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true })
  }
  process.on('SIGINT', () => {
    cleanup()
    process.exit(130)
  })

  const dbFile = path.join(work, 'gatehouse.db')
  // W5 reads 10,000 todos among 1,000,000; no other part needs them.
  const seeded = await seedDatabase(dbFile, { todos: names.includes('workers') ? 1_000_000 : 0 })
  log(
    `bench scale: seeded ${seeded.todos.toLocaleString('en')} todos in ${(seeded.ms / 1000).toFixed(1)} s`,
  )

  const jwtSecret = 'bench-secret-bench-secret-bench-secret-0123456789'
  let nextPort = 3910

  /** Gatehouse from dist/ on a port of its own, on the seeded database; resolves once ready. */
  async function startGatehouse(name, env) {
    const port = nextPort++
    const out = openSync(path.join(work, `${name}.log`), 'w')
    const child = spawn(process.execPath, [path.join(root, 'dist', 'gatehouse.js')], {
      cwd: work,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PORT: String(port),
        NODE_ENV: 'production',
        JWT_SECRET: jwtSecret,
        ACCESS_TOKEN_TTL: '3600',
        DATABASE_URL: `sqlite:${dbFile}`,
        RATE_LIMIT: 'false',
        LOG_LEVEL: 'warn',
        // W5 reads its page from the database each time, as in `npm run bench`.
        TODO_LIST_CACHE_MB: '0',
        ...env,
      },
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
      await new Promise((resolve) => setTimeout(resolve, 20))
      if (performance.now() - started > 60_000) throw new Error(`${name} not ready in 60 s`)
    }
    return {
      name,
      url,
      child,
      stop: () => {
        child.kill('SIGTERM')
        children.delete(child)
      },
    }
  }

  async function bearerFor(url) {
    const response = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: BENCH_USER, password: BENCH_PASSWORD }),
    })
    if (response.status !== 200) throw new Error(`login failed: ${response.status}`)
    return { authorization: `Bearer ${(await response.json()).access_token}` }
  }

  const context = {
    work,
    dbFile,
    seeded,
    duration: Number(process.env.BENCH_DURATION ?? 10),
    // Longer than the other benchmarks' 2 s: each worker warms its own JIT on half the requests.
    warmup: Number(process.env.BENCH_WARMUP ?? 15),
    rounds: Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2)),
    connections: Number(process.env.BENCH_CONNECTIONS ?? 10),
    startGatehouse,
    bearerFor,
    load,
    treeCpuSeconds,
    log,
  }

  const sections = []
  const data = {}
  for (const name of names) {
    const file = path.join(here, PARTS[name])
    if (!existsSync(file)) {
      log(`bench scale: ${name}: bench/${PARTS[name]} does not exist yet; skipped`)
      continue
    }
    const part = await import(pathToFileURL(file).href)
    const result = await part.run(context)
    sections.push(result.markdown)
    data[name] = result.data
  }
  cleanup()

  const markdown = `## Scale\n\n${sections.join('\n\n')}\n`
  process.stdout.write(markdown)
  if (process.env.BENCH_SAVE === '1') {
    writeFileSync(path.join(here, 'results', 'scale.md'), markdown)
    writeFileSync(path.join(here, 'results', 'scale.json'), `${JSON.stringify(data, null, 2)}\n`)
    log('bench scale: wrote bench/results/scale.md and scale.json')
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main()
