import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'

/**
 * The Redis client shared by rate limits and revocations. ioredis is loaded only when
 * configured: a single instance does not pay its ~30 ms load.
 */
export async function openRedis(url: string, log: FastifyBaseLogger): Promise<Redis> {
  const redis = new (await import('ioredis')).Redis(url, {
    lazyConnect: false,
    maxRetriesPerRequest: 2,
    // A Redis that accepts commands and never answers would hold every rate-limited request.
    commandTimeout: 1000,
  })
  // Without a listener ioredis prints each failed reconnection to stderr; one line when it goes
  // away and one when it is back are enough (readiness says the rest).
  let reachable = true
  redis.on('error', (error: Error) => {
    if (!reachable) return
    reachable = false
    log.warn({ err: error }, 'Redis is unreachable')
  })
  redis.on('ready', () => {
    if (reachable) return
    reachable = true
    log.info('Redis is reachable again')
  })
  return redis
}

/** Resolves when Redis answers; fails at once while it is not connected, without queuing. */
export async function pingRedis(redis: Redis): Promise<void> {
  if (redis.status !== 'ready') throw new Error(`Redis is ${redis.status}`)
  await redis.ping()
}
