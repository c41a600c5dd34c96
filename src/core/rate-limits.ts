import rateLimit, {
  type FastifyRateLimitOptions,
  type FastifyRateLimitStore,
  type FastifyRateLimitStoreCtor,
} from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import { LRUCache } from 'lru-cache'
import { callerKey } from './caller-key.js'
import { AppError } from './errors.js'
import type { PrimaryChannel } from './primary-calls.js'
import type { SharedRedis } from './redis.js'

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
  shared: { redis: SharedRedis | undefined; primary: PrimaryChannel | undefined },
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
    // Redis, else the cluster primary, else this process; while Redis is away each instance
    // counts in its own memory (windowStore).
    store:
      redis === undefined && primary !== undefined ? primaryStore(primary) : windowStore(redis),
    // The primary unreachable (a worker shutting down): requests go through rather than all
    // failing with 500.
    skipOnError: true,
  })
}

type Callback = Parameters<FastifyRateLimitStore['incr']>[1]
type Windows = LRUCache<string, { count: number; endsAt: number }>

// KEYS[1]: the window. ARGV: its length in ms. Returns the count and the ms left.
const INCR_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {count, ttl}
`

/**
 * Fixed windows counted in Redis, shared by every instance; while Redis is away each instance
 * counts in its own memory instead, so the limits still hold per instance (never unlimited, and
 * never an error). The local windows stay empty while Redis answers.
 */
class WindowStore implements FastifyRateLimitStore {
  constructor(
    private readonly redis: SharedRedis | undefined,
    private readonly local: Windows,
    private readonly prefix: string,
  ) {}

  // The plugin passes the window's length after the callback (its own stores take it too).
  incr(key: string, callback: Callback, timeWindow = 60_000): void {
    const fullKey = this.prefix + key
    const { redis } = this
    if (redis === undefined || !redis.usable()) {
      this.countLocally(fullKey, timeWindow, callback)
      return
    }
    redis
      .run((client) => client.eval(INCR_SCRIPT, 1, fullKey, timeWindow))
      .then(
        (reply) => {
          const [current, ttl] = reply as [number, number]
          callback(null, { current, ttl })
        },
        () => this.countLocally(fullKey, timeWindow, callback),
      )
  }

  // The plugin passes a route's merged limit options, not the route options its types name:
  // the route is under `routeInfo` (empty for `app.rateLimit()`).
  child(options: object): FastifyRateLimitStore {
    const { routeInfo } = options as { routeInfo?: { method?: unknown; url?: unknown } }
    const { method = '', url = '' } = routeInfo ?? {}
    return new WindowStore(this.redis, this.local, `${this.prefix}${String(method)}${String(url)}-`)
  }

  private countLocally(key: string, timeWindow: number, callback: Callback): void {
    const now = Date.now()
    let window = this.local.get(key)
    if (window === undefined || window.endsAt <= now) {
      window = { count: 0, endsAt: now + timeWindow }
      this.local.set(key, window)
    }
    window.count += 1
    callback(null, { current: window.count, ttl: window.endsAt - now })
  }
}

function windowStore(redis: SharedRedis | undefined): FastifyRateLimitStoreCtor {
  // One map for every route's limit: the keys carry the route.
  const local: Windows = new LRUCache({ max: 100_000 })
  return class extends WindowStore {
    constructor(_options: FastifyRateLimitOptions) {
      super(redis, local, 'gatehouse-rl:')
    }
  }
}
