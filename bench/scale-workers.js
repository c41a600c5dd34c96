// The workers part of `npm run bench -- scale`: W2 and W5 against a server with WORKERS=1 and one
// with WORKERS=2 on the same seeded file, in interleaved rounds; throughput, latency and the CPU
// of all the server's processes per request.

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
  return { markdown: markdownOf(results, context), data: results }
}

function markdownOf(results, context) {
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
  return lines.join('\n')
}
