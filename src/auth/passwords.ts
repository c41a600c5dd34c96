import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { hash, verify } from '@node-rs/argon2'
import { AppError } from '../core/errors.js'

// OWASP's first choice for argon2id: 19 MiB, 2 passes, 1 lane. The napi binding runs on the
// libuv pool, so hashing never blocks the event loop. 2 = Algorithm.Argon2id (a const enum).
const ARGON2_OPTIONS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

export const PASSWORD_MAX_LENGTH = 1024

/**
 * Hashes in flight at once: no more than the cores this process may run on (its CPU affinity)
 * nor the libuv pool. More would not hash faster, only make the event loop share its core with
 * more hashing threads: pinned to one core with four hashes in flight, API requests waited
 * behind four threads during a login storm instead of one (BENCHMARKS.md, W6).
 */
const HASH_SLOTS = Math.max(
  1,
  Math.min(availableParallelism(), Number(process.env.UV_THREADPOOL_SIZE) || 4),
)
/**
 * Checks waiting for a slot, at most. At about 34 ms a hash on two slots, 128 waiting is a wait
 * of about 2 s; beyond that an answer now (503) serves a client better than a longer queue.
 */
const MAX_WAITING = 128

/** Whose check this is: the queue takes clients in turn, and an account's known clients first. */
export interface HashLane {
  /** The client's address key (core/client-address.ts). */
  readonly client: string
  /** This client has signed in to the account before (credential-guard.ts): it goes first. */
  readonly priority: boolean
}

const ANY_CLIENT: HashLane = { client: '', priority: false }

const queueFull = () =>
  new AppError('SERVICE_UNAVAILABLE', 'Too many password checks are waiting; retry in a moment', {
    headers: { 'retry-after': '1' },
  })

/**
 * A bounded queue in front of argon2. Waiting checks are taken from clients in turn, so a flood
 * from one client (or a few) delays another client's check by about one hash per flooding
 * client, not by the whole flood; checks from a client that has signed in to the account before
 * go ahead of all of them, so a distributed attack on one account does not slow its owner.
 */
class HashQueue {
  private inFlight = 0
  private waiting = 0
  private readonly priority: (() => void)[] = []
  // Insertion order is the turn: a served client moves to the back.
  private readonly byClient = new Map<string, (() => void)[]>()

  constructor(
    private readonly slots: number,
    private readonly maxWaiting: number,
  ) {}

  async run<T>(lane: HashLane, work: () => Promise<T>): Promise<T> {
    if (this.inFlight < this.slots) this.inFlight += 1
    else {
      if (this.waiting >= this.maxWaiting) throw queueFull()
      this.waiting += 1
      await new Promise<void>((resolve) => this.enqueue(lane, resolve))
    }
    try {
      return await work()
    } finally {
      this.release()
    }
  }

  private enqueue(lane: HashLane, resolve: () => void): void {
    if (lane.priority) {
      this.priority.push(resolve)
      return
    }
    const queue = this.byClient.get(lane.client)
    if (queue === undefined) this.byClient.set(lane.client, [resolve])
    else queue.push(resolve)
  }

  /** Hands the slot straight to the next waiter, or frees it. */
  private release(): void {
    const next = this.priority.shift() ?? this.nextInTurn()
    if (next === undefined) {
      this.inFlight -= 1
      return
    }
    this.waiting -= 1
    next()
  }

  private nextInTurn(): (() => void) | undefined {
    const first = this.byClient.entries().next()
    if (first.done) return undefined
    const [client, queue] = first.value
    const next = queue.shift()
    this.byClient.delete(client)
    if (queue.length > 0) this.byClient.set(client, queue)
    return next
  }
}

const hashQueue = new HashQueue(HASH_SLOTS, MAX_WAITING)

/**
 * The 49,233 most common passwords of public breach corpora, as shipped by
 * @zxcvbn-ts/language-common (MIT). Loaded once, compared after NFKC and case folding.
 */
const commonPasswords: ReadonlySet<string> = (() => {
  const require = createRequire(import.meta.url)
  const common = require('@zxcvbn-ts/language-common') as {
    dictionary: { passwords: readonly string[] }
  }
  return new Set(common.dictionary.passwords.map(foldForComparison))
})()

function foldForComparison(password: string): string {
  return password.normalize('NFKC').toLowerCase()
}

/** NFKC so that the same password typed on two keyboards hashes the same; never truncated. */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC')
}

export function isCommonPassword(password: string): boolean {
  return commonPasswords.has(foldForComparison(password))
}

/** Length in characters (code points) after normalisation, then the common-password list. */
export function checkPasswordPolicy(password: string, minLength: number, field: string): void {
  const length = [...normalizePassword(password)].length
  let message: string | undefined
  if (length < minLength) message = `must be at least ${minLength} characters`
  else if (length > PASSWORD_MAX_LENGTH)
    message = `must be at most ${PASSWORD_MAX_LENGTH} characters`
  else if (isCommonPassword(password)) message = 'is too common; choose another'
  if (message !== undefined) {
    throw new AppError('WEAK_PASSWORD', `${field} ${message}`, {
      errors: [{ path: `body/${field}`, message }],
    })
  }
}

export function hashPassword(password: string, lane: HashLane = ANY_CLIENT): Promise<string> {
  return hashQueue.run(lane, () => hash(normalizePassword(password), ARGON2_OPTIONS))
}

// Verified against when the user does not exist, so an unknown username costs the same time.
// Made on first use of the module, not on the first unknown login (which would then cost two
// hashes and stand out).
let dummyHash: Promise<string> | undefined
export function prepareDummyHash(): Promise<string> {
  dummyHash ??= hashPassword('gatehouse-dummy-password-for-timing')
  return dummyHash
}

/** One argon2 verification, queued as `lane`; against a dummy hash when there is no user. */
export async function verifyPassword(
  passwordHash: string | undefined,
  password: string,
  lane: HashLane = ANY_CLIENT,
): Promise<boolean> {
  if ([...password].length > PASSWORD_MAX_LENGTH * 4) return false
  const against = passwordHash ?? (await prepareDummyHash())
  const ok = await hashQueue.run(lane, () =>
    verify(against, normalizePassword(password)).catch(() => false),
  )
  return ok && passwordHash !== undefined
}
