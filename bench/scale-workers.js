// The workers part of `npm run bench -- scale`: W2 and W5 against a server with WORKERS=1 and one
// with WORKERS=2 on the same seeded file, in interleaved rounds; throughput, latency and the CPU
// of all the server's processes per request. Then what the SQLite cross-process check
// (src/auth/auth-changes.ts) costs a request, timed in this process against the built module.
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import SQLite from 'better-sqlite3'

const here = path.dirname(fileURLToPath(import.meta.url))
const dist = path.join(path.dirname(here), 'dist')

const WORKLOADS = [
  { id: 'W2', title: 'GET /api/v1/private (Bearer)', path: '/api/v1/private' },
  { id: 'W5', title: 'GET /api/v1/todos?limit=20 (10k of 1M)', path: '/api/v1/todos?limit=20' },
]

export async function run(context) {
  const { load, treeCpuSeconds, log, duration, warmup, rounds, connections } = context
  const servers = [
    await context.startGatehouse('workers-1', { WORKERS: '1' }),
    await context.startGatehouse('workers-2', { WORKERS: '2' }),
  ]
  // The second worker of WORKERS=2 may still be starting when the first answers /readyz.
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const headers = await context.bearerFor(servers[0].url)

  const results = {}
  for (const workload of WORKLOADS) {
    const runs = Object.fromEntries(servers.map((server) => [server.name, []]))
    const loadOf = (server, seconds) =>
      load({ url: `${server.url}${workload.path}`, headers, connections, duration: seconds })
    if (warmup > 0) for (const server of servers) await loadOf(server, warmup)
    const each = Math.max(1, Math.round(duration / rounds))
    for (let round = 0; round < rounds; round++) {
      for (const server of round % 2 === 0 ? servers : [...servers].reverse()) {
        const before = treeCpuSeconds(server.child.pid)
        const result = await loadOf(server, each)
        result.cpu = treeCpuSeconds(server.child.pid) - before
        if (result.non2xx > 0 || result.errors > 0)
          log(
            `bench scale: warning: ${server.name} ${workload.id}: ${result.non2xx} non-2xx, ${result.errors} errors`,
          )
        runs[server.name].push(result)
      }
    }
    results[workload.id] = {}
    for (const [name, list] of Object.entries(runs)) {
      const total = list.reduce((sum, r) => sum + r.total, 0)
      const seconds = list.reduce((sum, r) => sum + r.duration, 0)
      const mean = (key) => list.reduce((sum, r) => sum + r[key], 0) / list.length
      const summary = {
        requestsPerSecond: total / seconds,
        p50: mean('p50'),
        p99: mean('p99'),
        cpuPerRequestUs: (list.reduce((sum, r) => sum + r.cpu, 0) / Math.max(total, 1)) * 1e6,
      }
      results[workload.id][name] = summary
      log(
        `bench scale: ${workload.id} ${name}: ${summary.requestsPerSecond.toFixed(0)} req/s, p50 ${summary.p50.toFixed(2)} ms, p99 ${summary.p99.toFixed(2)} ms, ${summary.cpuPerRequestUs.toFixed(0)} µs CPU/req`,
      )
    }
  }
  for (const server of servers) server.stop()

  const check = await crossProcessCheck(context)
  log(
    `bench scale: cross-process check: ${check.unchangedNs.toFixed(0)} ns when nobody else wrote, ${check.otherWriteUs.toFixed(1)} µs after another connection's unrelated commit, ${check.authChangeUs.toFixed(1)} µs after a demotion`,
  )
  return { markdown: markdownOf(results, check, context), data: { results, check } }
}

/**
 * `catchUp()` as every request runs it, on a copy of the bench user's database: when no other
 * connection committed (the steady state), after an unrelated commit by another connection (a
 * todo written by another worker: one journal read that finds nothing), and after a demotion
 * (one journal read, one cache entry dropped).
 */
async function crossProcessCheck(context) {
  const { openDatabase } = await import(pathToFileURL(path.join(dist, 'core', 'db.js')).href)
  const { createAuthChanges } = await import(
    pathToFileURL(path.join(dist, 'auth', 'auth-changes.js')).href
  )
  const database = openDatabase({ kind: 'sqlite', path: context.dbFile, synchronous: 'NORMAL' })
  const forgotten = { users: 0 }
  const changes = createAuthChanges({
    observer: database.observer,
    identities: { forget: () => forgotten.users++, forgetAll: () => {} },
    apiKeys: { forgetUser: () => {}, forgetAll: () => {} },
    revocations: { revokedElsewhere: () => {}, load: async () => {} },
  })
  const other = new SQLite(context.dbFile)
  const user = other.prepare("select id from users where username = 'bench'").pluck().get()
  // A column no cached principal holds: a commit, but no journal entry.
  const touchUser = other.prepare('update users set updated_at = ? where id = ?')
  const demote = other.prepare('update users set role = ? where id = ?')

  const timeEach = async (count, between) => {
    let total = 0n
    for (let i = 0; i < count; i++) {
      between?.(i)
      const started = process.hrtime.bigint()
      await changes.catchUp()
      total += process.hrtime.bigint() - started
    }
    return Number(total) / count
  }
  await timeEach(10_000)
  const unchangedNs = await timeEach(200_000)
  const otherWriteUs = (await timeEach(2_000, (i) => touchUser.run(String(i), user))) / 1000
  const authChangeUs =
    (await timeEach(2_000, (i) => demote.run(i % 2 === 0 ? 'admin' : 'user', user))) / 1000
  demote.run('user', user)
  other.close()
  await database.close()
  if (forgotten.users < 2_000) throw new Error('the check missed demotions')
  return { unchangedNs, otherWriteUs, authChangeUs }
}

function markdownOf(results, check, context) {
  const lines = [
    '### WORKERS=1 against WORKERS=2 (SQLite, no Redis)',
    '',
    `${context.connections} connections, ${context.rounds} interleaved rounds of ${Math.round(context.duration / context.rounds)} s after ${context.warmup} s of warm-up; nothing pinned, the load generator shares the 2 cores. CPU is the sum over the primary and every worker.`,
    '',
    '| workload | WORKERS | req/s | p50 ms | p99 ms | CPU µs/req | throughput ×1 | CPU/req ×1 |',
    '|---|---|---|---|---|---|---|---|',
  ]
  for (const workload of WORKLOADS) {
    const one = results[workload.id]['workers-1']
    for (const [name, label] of [
      ['workers-1', '1'],
      ['workers-2', '2'],
    ]) {
      const r = results[workload.id][name]
      lines.push(
        `| ${workload.id} ${workload.title} | ${label} | ${r.requestsPerSecond.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.cpuPerRequestUs.toFixed(0)} | ${(r.requestsPerSecond / one.requestsPerSecond).toFixed(2)} | ${(r.cpuPerRequestUs / one.cpuPerRequestUs).toFixed(2)} |`,
      )
    }
  }
  lines.push(
    '',
    '### The SQLite cross-process check, per request',
    '',
    '| when | cost of catchUp() |',
    '|---|---|',
    `| nobody else committed (PRAGMA data_version only) | ${check.unchangedNs.toFixed(0)} ns |`,
    `| another connection committed something else (one journal read) | ${check.otherWriteUs.toFixed(1)} µs |`,
    `| another connection demoted a user (journal read, one entry dropped) | ${check.authChangeUs.toFixed(1)} µs |`,
  )
  return lines.join('\n')
}
