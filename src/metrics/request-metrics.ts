import { Counter, type Histogram, type Registry } from 'prom-client'

/** Answers take 0.1–50 ms (a login's argon2 some 100 ms): fine steps there, a few above. */
export const DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
] as const

const DURATIONS = 'http_request_duration_seconds'

interface Timing {
  readonly labels: { readonly method: string; readonly route: string }
  /** Per bucket, not cumulative; the last is above every bound (+Inf). */
  readonly counts: Float64Array
  sum: number
  count: number
}

/** One request answered: its method, status and seconds (the route is the recorder's). */
export type RecordAnswer = (method: string, status: number, seconds: number) => void

interface Answers {
  readonly labels: { readonly method: string; readonly route: string; readonly status: string }
  count: number
  readonly timing: Timing
}

/** What prom-client formats and aggregates across a cluster: what a metric's `get()` returns. */
interface MetricSnapshot {
  name: string
  help: string
  type: 'histogram'
  aggregator: 'sum'
  values: { metricName: string; labels: Record<string, string | number>; value: number }[]
}

/**
 * `http_requests_total` and `http_request_duration_seconds`, counted in plain numbers and handed
 * to prom-client only when scraped. prom-client's own `inc`/`observe` hash and check their labels
 * on every call: about 2 µs a request, a tenth of what W1 costs (BENCHMARKS.md "Metrics"); here a
 * request costs one map lookup and a few additions.
 */
export function createRequestMetrics(registry: Registry) {
  const answers: Answers[] = []
  const timings = new Map<string, Timing>()

  new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset()
      for (const { labels, count } of answers) this.inc(labels, count)
    },
  })

  const durations = {
    name: DURATIONS,
    reset() {
      for (const timing of timings.values()) {
        timing.counts.fill(0)
        timing.sum = 0
        timing.count = 0
      }
    },
    async get(): Promise<MetricSnapshot> {
      const values: MetricSnapshot['values'] = []
      for (const { labels, counts, sum, count } of timings.values()) {
        let below = 0
        DURATION_BUCKETS.forEach((le, i) => {
          below += counts[i] ?? 0
          values.push({
            metricName: `${DURATIONS}_bucket`,
            labels: { le, ...labels },
            value: below,
          })
        })
        values.push(
          { metricName: `${DURATIONS}_bucket`, labels: { le: '+Inf', ...labels }, value: count },
          { metricName: `${DURATIONS}_sum`, labels: { ...labels }, value: sum },
          { metricName: `${DURATIONS}_count`, labels: { ...labels }, value: count },
        )
      }
      return {
        name: DURATIONS,
        help: 'Time from receiving a request to answering it, by method and route pattern.',
        type: 'histogram',
        aggregator: 'sum',
        values,
      }
    },
  }
  // The registry formats, and the cluster aggregator sums, any object with a name and `get()`;
  // its types name only its own classes.
  registry.registerMetric(durations as unknown as Histogram)

  function timingOf(method: string, route: string): Timing {
    const key = `${method} ${route}`
    let timing = timings.get(key)
    if (timing === undefined) {
      timing = {
        labels: { method, route },
        counts: new Float64Array(DURATION_BUCKETS.length + 1),
        sum: 0,
        count: 0,
      }
      timings.set(key, timing)
    }
    return timing
  }

  return {
    /**
     * The recorder of one route pattern (never the URL), made once when the route is added: a
     * request then looks up only its method and status, with no string built or hashed.
     */
    route(route: string): RecordAnswer {
      const byMethod = new Map<string, Map<number, Answers>>()
      return (method, status, seconds) => {
        let byStatus = byMethod.get(method)
        if (byStatus === undefined) {
          byStatus = new Map()
          byMethod.set(method, byStatus)
        }
        let found = byStatus.get(status)
        if (found === undefined) {
          found = {
            labels: { method, route, status: String(status) },
            count: 0,
            timing: timingOf(method, route),
          }
          byStatus.set(status, found)
          answers.push(found)
        }
        found.count++
        const timing = found.timing
        timing.count++
        timing.sum += seconds
        let bucket = 0
        while (bucket < DURATION_BUCKETS.length && seconds > (DURATION_BUCKETS[bucket] ?? 0))
          bucket++
        timing.counts[bucket] = (timing.counts[bucket] ?? 0) + 1
      }
    },
  }
}
