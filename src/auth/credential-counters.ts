// Where the credential guard (credential-guard.ts) and other counted limits keep their counts:
// this process's memory, the cluster primary when WORKERS processes share the limits, or Redis
// when instances do (each instance's memory while Redis is away).
import { LRUCache } from 'lru-cache'
import type { PrimaryChannel } from '../core/primary-calls.js'
import type { SharedRedis } from '../core/redis.js'

/** How long a client counts as one the account's owner uses. */
const KNOWN_CLIENT_MS = 90 * 86_400_000
const REDIS_PREFIX = 'gatehouse-cg:'

export interface Count {
  count: number
  /** Milliseconds until this window ends. */
  msLeft: number
}

/**
 * Fixed windows that open at their first failure. `add` with delta 0 reads; a negative delta
 * never opens a window (a success reported after its window ended changes nothing).
 */
export interface CounterStore {
  add(
    keys: readonly { key: string; windowMs: number }[],
    delta: number,
    known?: string,
  ): Promise<{ counts: Count[]; known: boolean }>
  remember(known: string): Promise<void>
}

export function memoryStore(): CounterStore {
  // Bounded: a spray over millions of made-up names evicts the oldest windows, not the heap.
  const windows = new LRUCache<string, { count: number; endsAt: number }>({ max: 200_000 })
  const knownClients = new LRUCache<string, true>({ max: 200_000, ttl: KNOWN_CLIENT_MS })
  return {
    async add(keys, delta, known) {
      const now = Date.now()
      const counts = keys.map(({ key, windowMs }) => {
        let window = windows.get(key)
        if (window !== undefined && window.endsAt <= now) window = undefined
        if (window === undefined) {
          if (delta <= 0) return { count: 0, msLeft: 0 }
          window = { count: 0, endsAt: now + windowMs }
          windows.set(key, window)
        }
        window.count = Math.max(0, window.count + delta)
        return { count: window.count, msLeft: window.endsAt - now }
      })
      return { counts, known: known !== undefined && knownClients.has(known) }
    },
    async remember(known) {
      knownClients.set(known, true)
    },
  }
}

// KEYS: the windows, then the known-client key. ARGV: delta, then each window's length in ms.
// Returns count and ms left per window, then whether the client is known; one round trip.
const ADD_SCRIPT = `
local delta = tonumber(ARGV[1])
local out = {}
for i = 1, #KEYS - 1 do
  local key = KEYS[i]
  if delta > 0 or redis.call('EXISTS', key) == 1 then
    local count = redis.call('INCRBY', key, delta)
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      ttl = tonumber(ARGV[i + 1])
      redis.call('PEXPIRE', key, ttl)
    end
    if count < 0 then
      count = 0
      redis.call('SET', key, 0, 'KEEPTTL')
    end
    out[#out + 1] = count
    out[#out + 1] = ttl
  else
    out[#out + 1] = 0
    out[#out + 1] = 0
  end
end
out[#out + 1] = redis.call('EXISTS', KEYS[#KEYS])
return out
`

/**
 * Counters shared by every instance through Redis. While Redis cannot be reached each instance
 * counts on its own (memory), which keeps the limits working rather than failing every login.
 */
export function redisStore(redis: SharedRedis, fallback: CounterStore): CounterStore {
  const noKnownKey = `${REDIS_PREFIX}none`
  return {
    async add(keys, delta, known) {
      try {
        const reply = (await redis.run((client) =>
          client.eval(
            ADD_SCRIPT,
            keys.length + 1,
            ...keys.map(({ key }) => REDIS_PREFIX + key),
            known === undefined ? noKnownKey : REDIS_PREFIX + known,
            delta,
            ...keys.map(({ windowMs }) => windowMs),
          ),
        )) as number[]
        const counts = keys.map((_, i) => ({
          count: reply[i * 2] ?? 0,
          msLeft: reply[i * 2 + 1] ?? 0,
        }))
        return { counts, known: reply[keys.length * 2] === 1 }
      } catch {
        return fallback.add(keys, delta, known)
      }
    },
    async remember(known) {
      try {
        await redis.run((client) => client.set(REDIS_PREFIX + known, '1', 'PX', KNOWN_CLIENT_MS))
      } catch {
        await fallback.remember(known)
      }
    },
  }
}

const COUNTERS_TOPIC = 'counters'

type CounterCall =
  | {
      store: string
      op: 'add'
      keys: readonly { key: string; windowMs: number }[]
      delta: number
      known?: string
    }
  | { store: string; op: 'remember'; known: string }

/** Counters kept by the cluster primary (`counterWindows`), so every worker counts together. */
export function primaryStore(name: string, channel: PrimaryChannel): CounterStore {
  return {
    add: (keys, delta, known) =>
      channel.call(COUNTERS_TOPIC, {
        store: name,
        op: 'add',
        keys,
        delta,
        ...(known === undefined ? {} : { known }),
      } satisfies CounterCall),
    async remember(known) {
      await channel.call(COUNTERS_TOPIC, {
        store: name,
        op: 'remember',
        known,
      } satisfies CounterCall)
    },
  }
}

/** In the cluster primary: the memory stores every worker's `primaryStore` counts in, by name. */
export function counterWindows() {
  const stores = new Map<string, CounterStore>()
  const storeOf = (name: string) => {
    let store = stores.get(name)
    if (store === undefined) {
      store = memoryStore()
      stores.set(name, store)
    }
    return store
  }
  return {
    [COUNTERS_TOPIC]: (call: CounterCall) =>
      call.op === 'add'
        ? storeOf(call.store).add(call.keys, call.delta, call.known)
        : storeOf(call.store).remember(call.known),
  }
}

/**
 * The store of the counts called `name`, shared as widely as this process is deployed: in Redis
 * across instances (this process's memory while Redis is down), else in the cluster primary
 * across WORKERS, else in this process.
 */
export function counterStore(
  name: string,
  shared: { redis: SharedRedis | undefined; primary: PrimaryChannel | undefined },
): CounterStore {
  if (shared.redis !== undefined) return redisStore(shared.redis, memoryStore())
  if (shared.primary !== undefined) return primaryStore(name, shared.primary)
  return memoryStore()
}
