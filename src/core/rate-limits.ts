import rateLimit, {
  type FastifyRateLimitOptions,
  type FastifyRateLimitStore,
  type FastifyRateLimitStoreCtor,
} from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import { LRUCache } from 'lru-cache'
import { callerKey } from './caller-key.js'
import { AppError } from './errors.js'
import type { SharedRedis } from './redis.js'

/**
 * 600 requests a minute for each caller (`callerKey`), in Redis when there is one so that every
 * instance counts together. Routes registered after this get the limit; `app.rateLimit()` makes
 * one for a single hook (the 404 handler, refused credentials).
 */
export async function registerRateLimits(
  app: FastifyInstance,
  config: { rateLimit: boolean },
  redis: SharedRedis | undefined,
): Promise<void> {
  if (!config.rateLimit) return
  await app.register(rateLimit, {
    global: true,
    max: 600,
    timeWindow: '1 minute',
    // After authentication, so a signed-in user is counted as themselves.
    hook: 'preHandler',
    keyGenerator: callerKey,
    errorResponseBuilder: (_request, context) =>
      new AppError('RATE_LIMITED', `Rate limit exceeded; retry in ${context.after}`),
    store: windowStore(redis),
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
