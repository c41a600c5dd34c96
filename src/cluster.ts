import cluster, { type Worker } from 'node:cluster'
import { prepareStorage } from './app.js'
import { counterWindows } from './auth/credential-counters.js'
import type { Config } from './core/config.js'
import { createLoggers } from './core/logger.js'
import { answerWorkers } from './core/primary-calls.js'
import { rateLimitWindows } from './core/rate-limits.js'
import { installClusterMetrics } from './metrics/cluster.js'

/** A worker that lived this long before it died had been working: its successor starts at once. */
const STABLE_MS = 10_000
const FIRST_RESTART_DELAY_MS = 100
const MAX_RESTART_DELAY_MS = 10_000
/** Workers give up on in-flight requests after 10 s (main.ts); this is the primary's own limit. */
const DRAIN_LIMIT_MS = 15_000

/**
 * The cluster primary (WORKERS>1): prepares the storage once, forks `config.workers` processes
 * running `entry` (they share the one port: the primary accepts connections and hands them out
 * in turn), restarts a worker that dies, with a back-off while they keep dying at start, and on
 * SIGTERM or SIGINT has every worker finish its in-flight requests and exit. It serves no HTTP
 * itself; it answers the workers' calls for what they count together (rate limits, the
 * credential guard) when there is no Redis.
 */
export async function runPrimary(config: Config, entry: string): Promise<void> {
  const log = createLoggers(config.logLevel).app.child({ role: 'primary' })
  await prepareStorage(config)
  answerWorkers({ ...rateLimitWindows(), ...counterWindows() })
  // Each worker's /metrics asks here for the numbers of every worker (before any is forked).
  if (config.metrics) installClusterMetrics()

  cluster.setupPrimary({ exec: entry, args: [] })
  const started = new Map<Worker, number>()
  const restarts = new Set<NodeJS.Timeout>()
  let failures = 0
  let stopping = false

  const fork = () => {
    const worker = cluster.fork()
    started.set(worker, Date.now())
  }

  cluster.on('exit', (worker, code, signal) => {
    const lived = Date.now() - (started.get(worker) ?? Date.now())
    started.delete(worker)
    if (stopping) return
    failures = lived >= STABLE_MS ? 1 : failures + 1
    const delay =
      failures === 1
        ? 0
        : Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** (failures - 2))
    log.error(
      { worker: worker.process.pid, code, signal, restartInMs: delay },
      'worker died; starting another',
    )
    const timer = setTimeout(() => {
      restarts.delete(timer)
      if (!stopping) fork()
    }, delay)
    restarts.add(timer)
  })

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    for (const timer of restarts) clearTimeout(timer)
    log.info({ signal, workers: started.size }, 'shutting down: workers finish in-flight requests')
    const force = setTimeout(() => {
      log.error('workers did not finish within 15 s; ending them')
      for (const worker of started.keys()) worker.process.kill('SIGKILL')
      process.exit(1)
    }, DRAIN_LIMIT_MS)
    force.unref()
    let failed = false
    cluster.on('exit', (_worker, code, signal) => {
      // A worker still starting ends at SIGTERM before it handles it, with nothing in flight.
      if (code !== 0 && signal !== 'SIGTERM') failed = true
      if (started.size === 0) process.exit(failed ? 1 : 0)
    })
    for (const worker of started.keys()) worker.process.kill('SIGTERM')
    if (started.size === 0) process.exit(0)
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))

  for (let i = 0; i < config.workers; i++) fork()
  log.info({ workers: config.workers }, 'started workers')
}
