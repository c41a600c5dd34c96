import cluster, { type Worker } from 'node:cluster'
import { AggregatorRegistry, type Registry } from 'prom-client'

// With WORKERS > 1 a scrape reaches one worker, which must answer for all of them: it asks the
// primary, which asks every worker for its numbers (prom-client's AggregatorRegistry, over the
// cluster's IPC channel) and sends the sum back.
const SCRAPE = 'gatehouse:metrics'
/** Longer than prom-client's own 5 s wait for the workers. */
const SCRAPE_TIMEOUT_MS = 6_000

interface ScrapeRequest {
  type: typeof SCRAPE
  id: number
}

interface ScrapeAnswer {
  type: typeof SCRAPE
  id: number
  text?: string
  error?: string
}

const isScrape = (message: unknown): message is ScrapeRequest & ScrapeAnswer =>
  typeof message === 'object' &&
  message !== null &&
  (message as { type?: unknown }).type === SCRAPE &&
  typeof (message as { id?: unknown }).id === 'number'

/**
 * For the cluster's primary (WORKERS > 1): call once, before forking the workers. Each
 * worker's /metrics then answers with the numbers of every worker: counters and histograms
 * summed, the outbox gauges the highest (every worker reads the one database), process
 * metrics as prom-client aggregates them (memory summed, event-loop lag averaged).
 */
export function installClusterMetrics(): void {
  if (!cluster.isPrimary) throw new Error('installClusterMetrics is for the cluster primary')
  const aggregator = new AggregatorRegistry()
  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isScrape(message)) return
    const answer = (fields: Pick<ScrapeAnswer, 'text' | 'error'>) => {
      if (worker.isConnected()) worker.send({ type: SCRAPE, id: message.id, ...fields })
    }
    aggregator.clusterMetrics().then(
      (text) => answer({ text }),
      (error: unknown) => answer({ error: error instanceof Error ? error.message : String(error) }),
    )
  })
}

/**
 * In a cluster worker: answers the primary's requests for this process's `registries`, and
 * returns what a scrape calls for the text of the whole cluster (rejects when the primary does
 * not answer in time).
 */
export function metricsOfCluster(registries: Registry[]): () => Promise<string> {
  AggregatorRegistry.setRegistries(registries)
  // Its constructor makes this worker answer the primary's requests (once per process).
  new AggregatorRegistry()
  let next = 0
  const waiting = new Map<number, (answer: ScrapeAnswer) => void>()
  process.on('message', (message: unknown) => {
    if (isScrape(message)) waiting.get(message.id)?.(message)
  })
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++
      const timer = setTimeout(() => {
        waiting.delete(id)
        reject(new Error('the cluster primary did not answer for the metrics'))
      }, SCRAPE_TIMEOUT_MS)
      waiting.set(id, (answer) => {
        clearTimeout(timer)
        waiting.delete(id)
        if (answer.text !== undefined) resolve(answer.text)
        else reject(new Error(answer.error ?? 'no metrics from the cluster'))
      })
      if (process.send === undefined) {
        waiting.get(id)?.({ type: SCRAPE, id, error: 'no channel to the cluster primary' })
        return
      }
      process.send({ type: SCRAPE, id } satisfies ScrapeRequest)
    })
}
