import cluster, { type Worker } from 'node:cluster'

// Calls from cluster workers to the primary over the IPC channel node:cluster opens (WORKERS>1),
// for state all workers must share without Redis: rate-limit windows, credential-guard counts.

interface Call {
  id: number
  topic: string
  payload: unknown
}

interface Reply {
  id: number
  result?: unknown
  error?: string
}

interface CallsMessage {
  gatehouse: 'calls'
  calls: Call[]
}

interface RepliesMessage {
  gatehouse: 'replies'
  replies: Reply[]
}

const isMessage = <M extends { gatehouse: string }>(
  message: unknown,
  kind: M['gatehouse'],
): message is M =>
  typeof message === 'object' &&
  message !== null &&
  (message as { gatehouse?: unknown }).gatehouse === kind

export interface PrimaryChannel {
  /** What the primary's handler for `topic` returned for `payload`; rejects if it threw or is gone. */
  call<T>(topic: string, payload: unknown): Promise<T>
}

/**
 * In a cluster worker: a channel to the primary's `answerWorkers`. Calls made in one turn of the
 * event loop travel as one message, so under load one round trip serves many requests, and an
 * IPC message (a JSON write and read on each side) is not paid per request.
 */
export function primaryChannel(): PrimaryChannel {
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
  let nextId = 0
  let queued: Call[] = []

  process.on('message', (message: unknown) => {
    if (!isMessage<RepliesMessage>(message, 'replies')) return
    for (const reply of message.replies) {
      const waiting = pending.get(reply.id)
      if (waiting === undefined) continue
      pending.delete(reply.id)
      if (reply.error === undefined) waiting.resolve(reply.result)
      else waiting.reject(new Error(`primary: ${reply.error}`))
    }
  })
  // The primary is gone: nothing will answer what is waiting.
  process.on('disconnect', () => {
    for (const waiting of pending.values()) waiting.reject(new Error('primary: disconnected'))
    pending.clear()
  })

  function flush(): void {
    const calls = queued
    queued = []
    const message: CallsMessage = { gatehouse: 'calls', calls }
    if (process.connected && process.send !== undefined) {
      process.send(message)
      return
    }
    for (const { id } of calls) {
      pending.get(id)?.reject(new Error('primary: disconnected'))
      pending.delete(id)
    }
  }

  return {
    call<T>(topic: string, payload: unknown): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const id = nextId++
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
        if (queued.length === 0) setImmediate(flush)
        queued.push({ id, topic, payload })
      })
    },
  }
}

export type CallHandlers = Readonly<Record<string, (payload: never) => unknown>>

/** In the primary: answers every worker's calls with `handlers[topic]`. */
export function answerWorkers(handlers: CallHandlers): void {
  const answer = async (call: Call): Promise<Reply> => {
    const handler = handlers[call.topic] as ((payload: unknown) => unknown) | undefined
    if (handler === undefined) return { id: call.id, error: `no handler for ${call.topic}` }
    try {
      return { id: call.id, result: await handler(call.payload) }
    } catch (error) {
      return { id: call.id, error: error instanceof Error ? error.message : String(error) }
    }
  }
  cluster.on('message', (worker: Worker, message: unknown) => {
    if (!isMessage<CallsMessage>(message, 'calls')) return
    void Promise.all(message.calls.map(answer)).then((replies) => {
      const reply: RepliesMessage = { gatehouse: 'replies', replies }
      if (worker.isConnected()) worker.send(reply)
    })
  })
}
