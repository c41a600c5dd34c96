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

interface Count {
  current: number
  ttl: number
}

/** Counts a request in the window `key`, opening one of `timeWindow` ms if none is open. */
type CountHit = (key: string, timeWindow: number) => Count | Promise<Count>

/**
 * Fixed windows that open at their first request, as @fastify/rate-limit's own memory store
 * counts them; bounded like it, so a flood of new clients evicts the oldest windows.
 */
function fixedWindows(max: number): (key: string, timeWindow: number) => Count {
  const windows = new LRUCache<string, { count: number; endsAt: number }>({ max })
  return (key, timeWindow) => {
    const now = Date.now()
    let window = windows.get(key)
    if (window === undefined || window.endsAt <= now) {
      window = { count: 0, endsAt: now + timeWindow }
      windows.set(key, window)
    }
    window.count += 1
    return { current: window.count, ttl: window.endsAt - now }
  }
}

/** In the cluster primary: the rate-limit windows of every worker (`inPrimary` below). */
export function rateLimitWindows() {
  const count = fixedWindows(200_000)
  return { [RATE_LIMIT_TOPIC]: ({ key, timeWindow }: Hit) => count(key, timeWindow) }
}

/** Counted in the cluster primary, so WORKERS processes limit together. */
function inPrimary(channel: PrimaryChannel): CountHit {
  return (key, timeWindow) =>
    channel.call<Count>(RATE_LIMIT_TOPIC, { key, timeWindow } satisfies Hit)
}

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
 * Counted in Redis, shared by every instance; while Redis is away each instance counts in its
 * own memory instead, so the limits still hold per instance (never unlimited, and never an
 * error). The local windows stay empty while Redis answers.
 */
function inRedis(redis: SharedRedis, local: CountHit): CountHit {
  return (key, timeWindow) =>
    redis.usable()
      ? redis
          .run((client) => client.eval(INCR_SCRIPT, 1, key, timeWindow))
          .then(
            (reply) => {
              const [current, ttl] = reply as [number, number]
              return { current, ttl }
            },
            () => local(key, timeWindow),
          )
      : local(key, timeWindow)
}

/**
 * A store for @fastify/rate-limit over one way of counting. The global limit and each route's
 * own limit count apart, under keys that carry the route, the same in every process.
 */
class RouteWindows implements FastifyRateLimitStore {
  constructor(
    private readonly count: CountHit,
    private readonly prefix: string,
  ) {}

  // The plugin passes the window's length after the callback (its own stores take it too).
  incr(key: string, callback: Callback, timeWindow = 60_000): void {
    const counted = this.count(this.prefix + key, timeWindow)
    if (counted instanceof Promise)
      counted.then(
        (result) => callback(null, result),
        (error: Error) => callback(error),
      )
    else callback(null, counted)
  }

  // The plugin passes a route's merged limit options, not the route options its types name:
  // the route is under `routeInfo`.
  child(options: object): FastifyRateLimitStore {
    const { routeInfo } = options as { routeInfo?: { method?: unknown; url?: unknown } }
    const { method = '', url = '' } = routeInfo ?? {}
    return new RouteWindows(this.count, `${this.prefix}${String(method)}${String(url)}-`)
  }
}

type Callback = Parameters<FastifyRateLimitStore['incr']>[1]

function routeWindows(count: CountHit): FastifyRateLimitStoreCtor {
  return class extends RouteWindows {
    constructor(_options: FastifyRateLimitOptions) {
      super(count, 'gatehouse-rl:')
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
    store: routeWindows(
      redis !== undefined
        ? inRedis(redis, fixedWindows(100_000))
        : primary !== undefined
          ? inPrimary(primary)
          : fixedWindows(100_000),
    ),
    // The primary unreachable (a worker shutting down): requests go through rather than all
    // failing with 500.
    skipOnError: true,
  })
}
