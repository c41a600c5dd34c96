import { createHash } from 'node:crypto'
import { AppError } from '../core/errors.js'
import type { SharedRedis } from '../core/redis.js'
import { type Count, memoryStore, redisStore } from './credential-counters.js'
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
  redis?: SharedRedis | undefined
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

/**
 * One check of `account`'s credentials from `client` under the guard: a 429 before any work
 * when a limit holds; `check` gets the lane to wait for argon2 in, and its answer is reported.
 */
export async function guardedCheck(
  guard: CredentialGuard,
  account: string,
  client: string,
  check: (lane: HashLane) => Promise<boolean>,
): Promise<boolean> {
  const attempt = await guard.begin(account, client)
  let ok: boolean
  try {
    ok = await check(attempt.lane)
  } catch (error) {
    await attempt.abandoned()
    throw error
  }
  await (ok ? attempt.succeeded() : attempt.failed())
  return ok
}
