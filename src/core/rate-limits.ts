import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { callerKey } from './caller-key.js'
import { AppError } from './errors.js'
import type { PrimaryChannel } from './primary-calls.js'

const RATE_LIMIT_TOPIC = 'rate-limit'

interface Hit {
  key: string
  timeWindow: number
}

/**
 * In the cluster primary: the rate-limit windows of every worker, fixed windows that open at
 * their first request, as @fastify/rate-limit's own memory store counts them.
 */
export function rateLimitWindows() {
  // Bounded like the plugin's memory store: a flood of new clients evicts the oldest windows.
  const windows = new LRUCache<string, { current: number; endsAt: number }>({ max: 200_000 })
  return {
    [RATE_LIMIT_TOPIC]: ({ key, timeWindow }: Hit) => {
      const now = Date.now()
      let window = windows.get(key)
      if (window === undefined || window.endsAt <= now) {
        window = { current: 0, endsAt: now + timeWindow }
        windows.set(key, window)
      }
      window.current += 1
      return { current: window.current, ttl: window.endsAt - now }
    },
  }
}

/**
 * A store for @fastify/rate-limit that counts in the cluster primary, so WORKERS processes
 * limit together. Each limit (the global one, a route's, each `app.rateLimit()`) counts apart,
 * as in the plugin's memory store; they are named by the order they are made, which is the
 * same in every worker.
 */
function primaryStore(channel: PrimaryChannel) {
  let children = 0
  return class PrimaryStore implements FastifyRateLimitStore {
    private readonly namespace: string
    /** The plugin makes the first with its options; `child` names the others. */
    constructor(namespace?: unknown) {
      this.namespace = typeof namespace === 'string' ? namespace : 'global'
    }
    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindow?: number,
    ): void {
      const hit: Hit = { key: `${this.namespace}:${key}`, timeWindow: timeWindow ?? 60_000 }
      channel.call<{ current: number; ttl: number }>(RATE_LIMIT_TOPIC, hit).then(
        (result) => callback(null, result),
        (error: Error) => callback(error),
      )
    }
    child(): FastifyRateLimitStore {
      children += 1
      return new PrimaryStore(String(children))
    }
  }
}

/**
 * 600 requests a minute for each caller (`callerKey`), counted where every process sees the
 * same count: in Redis when there is one (every instance), else in the cluster primary
 * (WORKERS>1), else in this process. Routes registered after this get the limit;
 * `app.rateLimit()` makes one for a single hook (the 404 handler, refused credentials).
 */
export async function registerRateLimits(
  app: FastifyInstance,
  config: { rateLimit: boolean },
  shared: { redis: Redis | undefined; primary: PrimaryChannel | undefined },
): Promise<void> {
  if (!config.rateLimit) return
  const { redis, primary } = shared
  await app.register(rateLimit, {
    global: true,
    max: 600,
    timeWindow: '1 minute',
    // After authentication, so a signed-in user is counted as themselves.
    hook: 'preHandler',
    keyGenerator: callerKey,
    errorResponseBuilder: (_request, context) =>
      new AppError('RATE_LIMITED', `Rate limit exceeded; retry in ${context.after}`),
    ...(redis !== undefined
      ? { redis, nameSpace: 'gatehouse-rl:' }
      : primary !== undefined
        ? { store: primaryStore(primary) }
        : {}),
    // Redis (or the primary) unreachable: requests go through unlimited (readiness reports the
    // outage) rather than all failing with 500.
    skipOnError: true,
  })
}
