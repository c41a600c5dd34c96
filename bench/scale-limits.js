// The limits part of `npm run bench -- scale`: what counting the request limit in the cluster
// primary (WORKERS=2, no Redis: one IPC round trip per turn of a worker's event loop) costs
// against counting it in the one process (WORKERS=1). W1 (GET /api/v1/public) with rate limits
// on, each request from a new address (X-Forwarded-For from a trusted proxy) so none is refused;
// the same server with limits off gives the cost of the limit itself.

const SIDES = [
  { name: 'workers-1, limits off', env: { WORKERS: '1', RATE_LIMIT: 'false' } },
  { name: 'workers-1, limits on', env: { WORKERS: '1', RATE_LIMIT: 'true' } },
  { name: 'workers-2, limits off', env: { WORKERS: '2', RATE_LIMIT: 'false' } },
  { name: 'workers-2, limits on', env: { WORKERS: '2', RATE_LIMIT: 'true' } },
]

export async function run(context) {
  const { load, treeCpuSeconds, log, duration, warmup, rounds, connections } = context
  const servers = []
  for (const [i, side] of SIDES.entries()) {
    const server = await context.startGatehouse(`limits-${i}`, {
      ...side.env,
      TRUSTED_PROXIES: '127.0.0.1',
    })
    servers.push({ ...side, server })
  }
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const loadOf = (side, seconds) =>
    load({
      url: `${side.server.url}/api/v1/public`,
      connections,
      randomClient: true,
      duration: seconds,
    })
  const runs = new Map(servers.map((side) => [side, []]))
  if (warmup > 0) for (const side of servers) await loadOf(side, warmup)
  const each = Math.max(1, Math.round(duration / rounds))
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? servers : [...servers].reverse()) {
      const before = treeCpuSeconds(side.server.child.pid)
      const result = await loadOf(side, each)
      result.cpu = treeCpuSeconds(side.server.child.pid) - before
      if (result.non2xx > 0 || result.errors > 0)
        log(`bench scale: warning: ${side.name}: ${result.non2xx} non-2xx, ${result.errors} errors`)
      runs.get(side).push(result)
    }
  }
  const data = {}
  const lines = [
    '### The request limit counted in the primary (W1, a new client each request)',
    '',
    '| server | req/s | p50 ms | p99 ms | CPU µs/req |',
    '|---|---|---|---|---|',
  ]
  for (const side of servers) {
    const list = runs.get(side)
    const total = list.reduce((sum, r) => sum + r.total, 0)
    const seconds = list.reduce((sum, r) => sum + r.duration, 0)
    const mean = (key) => list.reduce((sum, r) => sum + r[key], 0) / list.length
    const summary = {
      requestsPerSecond: total / seconds,
      p50: mean('p50'),
      p99: mean('p99'),
      cpuPerRequestUs: (list.reduce((sum, r) => sum + r.cpu, 0) / Math.max(total, 1)) * 1e6,
    }
    data[side.name] = summary
    log(
      `bench scale: W1 ${side.name}: ${summary.requestsPerSecond.toFixed(0)} req/s, p50 ${summary.p50.toFixed(2)} ms, p99 ${summary.p99.toFixed(2)} ms, ${summary.cpuPerRequestUs.toFixed(0)} µs CPU/req`,
    )
    lines.push(
      `| ${side.name} | ${summary.requestsPerSecond.toFixed(0)} | ${summary.p50.toFixed(2)} | ${summary.p99.toFixed(2)} | ${summary.cpuPerRequestUs.toFixed(0)} |`,
    )
    side.server.stop()
  }
  return { markdown: lines.join('\n'), data }
}
