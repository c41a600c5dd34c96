import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { FastifyBaseLogger } from 'fastify'
import type { Config, DatabaseConfig } from '../core/config.js'
import type { OutboxWorker } from './outbox.worker.js'

/** What the mail thread builds its delivery from: plain data, copied to the thread. */
export interface MailThreadData {
  config: Config
  secret: Uint8Array
}

export type MailThreadLevel = 'info' | 'warn' | 'error'

export type MailThreadMessage =
  | { type: 'log'; level: MailThreadLevel; obj: unknown; msg: string | undefined }
  | { type: 'stopped' }

/**
 * True when mail can be delivered on a thread: its entry exists (compiled JavaScript only; the
 * TypeScript source, as tests run it, has none) and the database can be shared.
 */
export function mailThreadAvailable(database: DatabaseConfig, entry: URL): boolean {
  if (database.kind === 'sqlite' && database.path === ':memory:') return false
  return existsSync(fileURLToPath(entry))
}

/**
 * Mail delivery on a worker thread with its own database connection (the thread runs
 * `runMailThread`). Building and sending 1,000+ messages a second on the main thread held up
 * API requests (tens of ms at p99) and grew the main heap; the thread's heap is capped, so its
 * garbage is collected early. If the thread dies, it is started again; rows it had claimed go
 * again when their lease ends, as after a crash.
 */
export function startMailThread(
  entry: URL,
  data: MailThreadData,
  log: Pick<FastifyBaseLogger, MailThreadLevel>,
): OutboxWorker {
  let thread: Worker | undefined
  let stopping = false
  let stopped: (() => void) | undefined

  function spawn(): void {
    const current = new Worker(entry, {
      workerData: data,
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 },
    })
    current.on('message', (message: MailThreadMessage) => {
      if (message.type === 'stopped') stopped?.()
      else log[message.level](message.obj as object, message.msg)
    })
    current.on('error', (error) => log.error({ err: error }, 'outbox thread failed'))
    current.on('exit', () => {
      if (thread !== current) return
      thread = undefined
      stopped?.()
      if (stopping) return
      log.error('outbox thread ended; starting it again')
      setTimeout(() => {
        if (!stopping && thread === undefined) spawn()
      }, 1000).unref()
    })
    thread = current
  }

  return {
    start() {
      if (thread === undefined && !stopping) spawn()
    },
    kick() {
      thread?.postMessage('kick')
    },
    async stop() {
      stopping = true
      const current = thread
      if (current === undefined) return
      await new Promise<void>((resolve) => {
        stopped = resolve
        current.postMessage('stop')
        // The thread's own stop waits up to 10 s for mails in flight.
        setTimeout(() => void current.terminate().then(() => resolve()), 15_000).unref()
      })
      thread = undefined
    },
  }
}
