import cluster from 'node:cluster'
import type { FastifyInstance, onResponseHookHandler } from 'fastify'
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import type { AuthEvents } from '../auth/auth-events.js'
import type { OutboxDepth } from '../mail/outbox.repository.js'
import { metricsOfCluster } from './cluster.js'
import { createRequestMetrics, type RecordAnswer } from './request-metrics.js'

/** The `route` of a request no route matched (a 404): never the URL, which anyone can vary. */
export const UNMATCHED_ROUTE = 'unmatched'

/** Rows counted at most per status and reading: a reading stays cheap however long the queue. */
export const OUTBOX_COUNT_BOUND = 1_000_000

let processRegistry: Registry | undefined
/**
 * The process's and Node.js's own metrics: one set per process, however many apps it builds
 * (tests build dozens), since each set keeps an event-loop monitor running for good.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

export interface Metrics {
  /** Counts refused credentials and logins (wired into auth in app.ts). */
  readonly authEvents: AuthEvents
  /** Counts what no route answered (the 404 handler's `onResponse`). */
  readonly unmatchedHook: onResponseHookHandler
  /** Starts reading the outbox's depth in the background (once the services exist). */
  watchOutbox(read: (bound: number) => Promise<OutboxDepth>): void
  /** The Prometheus text: of this process, or of every process of a cluster when in one. */
  text(): Promise<string>
  readonly contentType: string
}

/**
 * Prometheus metrics (API.md §8): every request by method, route pattern and status, its
 * duration, refused credentials and logins (through `authEvents`), the outbox's depth, and
 * the process's runtime. The outbox is read in the background every `outboxEveryMs`, never
 * on a scrape: a scrape only formats what is already counted.
 */
export function installMetrics(
  app: FastifyInstance,
  options: {
    outboxEveryMs: number
    /** A cluster worker (node:cluster): a scrape asks the primary for every worker's numbers. */
    clusterWorker?: boolean
  },
): Metrics {
  const registry = new Registry()
  const clusterWorker = options.clusterWorker ?? cluster.isWorker
  const requests = createRequestMetrics(registry)
  const refusals = new Counter({
    name: 'gatehouse_auth_failures_total',
    help: 'Credentials refused, by how they came (scheme) and why (reason).',
    labelNames: ['scheme', 'reason'] as const,
    registers: [registry],
  })
  const logins = new Counter({
    name: 'gatehouse_logins_total',
    help: 'Password logins (JSON and the web form), by result: success, failure, rate_limited.',
    labelNames: ['result'] as const,
    registers: [registry],
  })

  // Series shown at 0 from the start, so a rate() or an alert has a sample before the first
  // event (Prometheus's advice for known label values); the rest appear when they first occur.
  for (const result of ['success', 'failure', 'rate_limited'] as const) logins.labels(result).inc(0)
  for (const [scheme, reason] of [
    ['none', 'missing'],
    ['bearer', 'invalid'],
    ['password', 'wrong_password'],
    ['basic', 'wrong_password'],
  ] as const)
    refusals.labels(scheme, reason).inc(0)

  let depth: OutboxDepth | undefined
  // Every process reads the one database: across a cluster's workers the highest, not the sum.
  new Gauge({
    name: 'gatehouse_outbox_messages',
    help: `Mails in the outbox by status (pending, failed), read every ${options.outboxEveryMs / 1000} s; each counted up to ${OUTBOX_COUNT_BOUND}.`,
    labelNames: ['status'] as const,
    aggregator: 'max',
    registers: [registry],
    collect() {
      if (depth === undefined) return
      this.set({ status: 'pending' }, depth.pending)
      this.set({ status: 'failed' }, depth.failed)
    },
  })
  new Gauge({
    name: 'gatehouse_outbox_oldest_pending_seconds',
    help: 'Age of the oldest mail not yet sent (0 when none waits).',
    aggregator: 'max',
    registers: [registry],
    collect() {
      if (depth === undefined) return
      const at = depth.oldestPendingAt
      this.set(at === null ? 0 : Math.max(0, (Date.now() - Date.parse(at)) / 1000))
    },
  })

  let reading: Promise<void> | undefined
  let readDepth: ((bound: number) => Promise<OutboxDepth>) | undefined
  const readOutbox = () => {
    if (readDepth === undefined) return
    // One reading at a time: a slow database does not pile them up.
    reading ??= readDepth(OUTBOX_COUNT_BOUND)
      .then((read) => {
        depth = read
      })
      .catch((error: unknown) => app.log.warn({ err: error }, 'reading the outbox for metrics'))
      .finally(() => {
        reading = undefined
      })
  }
  const timer = setInterval(readOutbox, options.outboxEveryMs)
  timer.unref()
  app.addHook('onReady', async () => readOutbox())
  app.addHook('onClose', async () => {
    clearInterval(timer)
    // A reading in flight ends (or fails quietly into the log) before the app is gone.
    await reading
  })

  // A hook of each route's own, knowing its pattern: reading `request.routeOptions` builds an
  // object on every call, and W1 is a request that does little else (BENCHMARKS.md "Metrics").
  app.addHook('onRoute', (route) => {
    const hook = answerHook(requests.route(route.url))
    const hooks = route.onResponse
    route.onResponse =
      hooks === undefined ? [hook] : [...(Array.isArray(hooks) ? hooks : [hooks]), hook]
  })

  const runtime = processMetrics()
  const aggregate = clusterWorker ? metricsOfCluster([runtime, registry]) : undefined
  return {
    unmatchedHook: answerHook(requests.route(UNMATCHED_ROUTE)),
    authEvents: {
      refused: (scheme, reason) => refusals.labels(scheme, reason).inc(),
      login: (result) => logins.labels(result).inc(),
    },
    contentType: registry.contentType,
    watchOutbox(read) {
      readDepth = read
    },
    async text() {
      if (aggregate !== undefined) return aggregate()
      return (await runtime.metrics()) + (await registry.metrics())
    },
  }
}

function answerHook(record: RecordAnswer): onResponseHookHandler {
  return (request, reply, done) => {
    record(request.method, reply.statusCode, reply.elapsedTime / 1000)
    done()
  }
}
