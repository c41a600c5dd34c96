import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { AppError } from '../core/errors.js'
import type { HashLane } from './passwords.js'

/** API.md §3 "Guessing credentials". */
const RULES = {
  /** One account from one client. */
  accountClient: { max: 10, windowMs: 60_000 },
  /** One client over all accounts (password spraying). */
  client: { max: 30, windowMs: 60_000 },
  /** One account over all clients, except the clients that signed in to it before. */
  account: { max: 100, windowMs: 3_600_000 },
} as const
/** How long a client counts as one the account's owner uses. */
const KNOWN_CLIENT_MS = 90 * 86_400_000
const REDIS_PREFIX = 'gatehouse-cg:'

/** One password (or, later, code) check that `begin` let through. */
export interface CredentialAttempt {
  /** Where the check waits for argon2 (passwords.ts). */
  readonly lane: HashLane
  /** The check failed: it stays counted. */
  failed(): Promise<void>
  /** The check passed: it does not count, and the client becomes one the account knows. */
  succeeded(): Promise<void>
  /** No answer came of the check (an error, a full queue): it does not count. */
  abandoned(): Promise<void>
}

export interface CredentialGuard {
  /**
   * Before a password check: throws 429 (with Retry-After, having checked nothing) when a rule
   * of §3 holds this account or client back; otherwise counts the attempt as a failure until it
   * is reported to have succeeded, so concurrent guesses cannot all slip under a limit.
   */
  begin(account: string, client: string): Promise<CredentialAttempt>
  /**
   * For credentials already known to be right without a check (the Basic cache): throws the
   * same 429 when a limit holds, so the right password does not get past one.
   */
  check(account: string, client: string): Promise<void>
}

interface Count {
  count: number
  /** Milliseconds until this window ends. */
  msLeft: number
}

/**
 * Fixed windows that open at their first failure. `add` with delta 0 reads; a negative delta
 * never opens a window (a success reported after its window ended changes nothing).
 */
interface CounterStore {
  add(
    keys: readonly { key: string; windowMs: number }[],
    delta: number,
    known?: string,
  ): Promise<{ counts: Count[]; known: boolean }>
  remember(known: string): Promise<void>
}

function memoryStore(): CounterStore {
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
function redisStore(redis: Redis, fallback: CounterStore): CounterStore {
  const noKnownKey = `${REDIS_PREFIX}none`
  return {
    async add(keys, delta, known) {
      try {
        const reply = (await redis.eval(
          ADD_SCRIPT,
          keys.length + 1,
          ...keys.map(({ key }) => REDIS_PREFIX + key),
          known === undefined ? noKnownKey : REDIS_PREFIX + known,
          delta,
          ...keys.map(({ windowMs }) => windowMs),
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
        await redis.set(REDIS_PREFIX + known, '1', 'PX', KNOWN_CLIENT_MS)
      } catch {
        await fallback.remember(known)
      }
    },
  }
}

const tooManyAttempts = (msLeft: number) => {
  const seconds = Math.max(1, Math.ceil(msLeft / 1000))
  return new AppError(
    'RATE_LIMITED',
    `Too many failed sign-in attempts; retry in ${seconds} seconds`,
    { headers: { 'retry-after': String(seconds) } },
  )
}

/** Names never reach a store as they are: they may be any text an attacker sends. */
const digest = (text: string) => createHash('sha256').update(text).digest('base64url').slice(0, 22)

/** A guard that lets everything through (`RATE_LIMIT=false`); checks still go in turn. */
function openGuard(): CredentialGuard {
  const done = async () => {}
  return {
    async begin(_account, client) {
      return { lane: { client, priority: false }, failed: done, succeeded: done, abandoned: done }
    },
    async check() {},
  }
}

/**
 * The one mechanism every credential check goes through (JSON login, Basic on any route,
 * `current_password`, and later form login and two-factor codes): API.md §3.
 */
export function createCredentialGuard(options: {
  enabled: boolean
  redis?: Redis | undefined
}): CredentialGuard {
  if (!options.enabled) return openGuard()
  const memory = memoryStore()
  const store = options.redis === undefined ? memory : redisStore(options.redis, memory)

  const windowsOf = (account: string, client: string) => {
    const accountKey = digest(account)
    return {
      windows: [
        { key: `ac:${accountKey}:${client}`, windowMs: RULES.accountClient.windowMs },
        { key: `c:${client}`, windowMs: RULES.client.windowMs },
        { key: `a:${accountKey}`, windowMs: RULES.account.windowMs },
      ],
      known: `k:${accountKey}:${client}`,
    }
  }

  /** The window that holds this client back, if any; `pending` counts this attempt too. */
  function blocking(counts: Count[], known: boolean, pending: number): Count | undefined {
    const [accountClient, client, account] = counts
    if (accountClient !== undefined && accountClient.count - pending >= RULES.accountClient.max)
      return accountClient
    if (client !== undefined && client.count - pending >= RULES.client.max) return client
    if (!known && account !== undefined && account.count - pending >= RULES.account.max)
      return account
    return undefined
  }

  return {
    async begin(account, client) {
      const { windows, known } = windowsOf(account, client)
      const added = await store.add(windows, 1, known)
      const held = blocking(added.counts, added.known, 1)
      if (held !== undefined) {
        // Answered without a check, so it is not a failure either.
        await store.add(windows, -1)
        throw tooManyAttempts(held.msLeft)
      }
      let reported = false
      const uncount = async () => {
        if (reported) return false
        reported = true
        await store.add(windows, -1)
        return true
      }
      return {
        lane: { client, priority: added.known },
        async failed() {
          reported = true
        },
        async succeeded() {
          if (await uncount()) await store.remember(known)
        },
        async abandoned() {
          await uncount()
        },
      }
    },
    async check(account, client) {
      const { windows, known } = windowsOf(account, client)
      const read = await store.add(windows, 0, known)
      const held = blocking(read.counts, read.known, 0)
      if (held !== undefined) throw tooManyAttempts(held.msLeft)
    },
  }
}
