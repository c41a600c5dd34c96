import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'

/** After a command fails, Redis is left alone this long before one is tried again. */
const RETRY_AFTER_MS = 1000
/** A Redis that accepts commands and never answers must not hold requests longer. */
const COMMAND_TIMEOUT_MS = 500

/**
 * Redis as the features use it: something that may be away. While it is, `run` fails at once
 * (no queue, no waiting on reconnection), so every user falls back — revocations to the
 * database, rate limits to this process's counts — and a request never waits on an outage.
 */
export interface SharedRedis {
  /** Runs `command` unless Redis is known to be away; then (or when it fails) it throws. */
  run<T>(command: (client: Redis) => Promise<T>): Promise<T>
  /** Whether the last word from Redis was good: commands are tried. */
  usable(): boolean
  /**
   * Called on every (re)connection and when a stalled Redis answers again: it may have restarted
   * empty, or missed writes made while it was away.
   */
  onBack(listener: () => Promise<void>): void
  readonly client: Redis
  close(): Promise<void>
}

/**
 * Opens the client shared by rate limits, credential counters and revocations. ioredis is
 * loaded only when configured: a single instance does not pay its ~30 ms load.
 */
export async function openRedis(url: string, log: FastifyBaseLogger): Promise<SharedRedis> {
  const client = new (await import('ioredis')).Redis(url, {
    lazyConnect: false,
    // Commands issued while disconnected fail at once instead of waiting for a reconnection.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    // Keep trying, never more than a second apart, so a returning Redis is found quickly.
    retryStrategy: (times) => Math.min(times * 100, RETRY_AFTER_MS),
  })
  const listeners: (() => Promise<void>)[] = []
  let reachable = true
  let failedAt = 0
  let closing = false
  const back = () => {
    for (const listener of listeners) {
      listener().catch((error: unknown) =>
        log.warn({ err: error }, 'Catching up with Redis after an outage failed'),
      )
    }
  }
  const wentAway = (error: Error) => {
    if (!reachable || closing) return
    reachable = false
    log.warn({ err: error }, 'Redis is unreachable; falling back to the database and local counts')
  }
  // Without an error listener ioredis prints each failed reconnection to stderr.
  client.on('error', wentAway)
  client.on('close', () => wentAway(new Error('connection closed')))
  // Every (re)connection may find a Redis that restarted empty: the listeners catch it up.
  client.on('ready', () => {
    failedAt = 0
    if (!reachable) log.info('Redis is reachable again')
    reachable = true
    back()
  })

  const usable = () => client.status === 'ready' && Date.now() - failedAt >= RETRY_AFTER_MS
  return {
    client,
    usable,
    async run(command) {
      if (!usable()) throw new Error(`Redis is ${client.status}`)
      try {
        const result = await command(client)
        if (failedAt !== 0) {
          // Answering again without having dropped the connection (it had stalled).
          failedAt = 0
          back()
        }
        return result
      } catch (error) {
        if (failedAt === 0) log.warn({ err: error }, 'A Redis command failed; retrying in a second')
        failedAt = Date.now()
        throw error
      }
    },
    onBack(listener) {
      listeners.push(listener)
    },
    async close() {
      closing = true
      await client.quit().catch(() => client.disconnect())
    },
  }
}

/** Resolves when Redis answers; fails at once while it is not connected, without queuing. */
export async function pingRedis(redis: SharedRedis): Promise<void> {
  if (redis.client.status !== 'ready') throw new Error(`Redis is ${redis.client.status}`)
  await redis.client.ping()
}
