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
let hashesInFlight = 0
const waitingForSlot: (() => void)[] = []

async function withHashSlot<T>(work: () => Promise<T>): Promise<T> {
  if (hashesInFlight >= HASH_SLOTS)
    await new Promise<void>((resolve) => waitingForSlot.push(resolve))
  else hashesInFlight += 1
  try {
    return await work()
  } finally {
    // Hand the slot straight to the next waiter, or free it.
    const next = waitingForSlot.shift()
    if (next === undefined) hashesInFlight -= 1
    else next()
  }
}

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
    throw new AppError(400, 'WEAK_PASSWORD', 'Validation failed', `${field} ${message}`, {
      errors: [{ path: `body/${field}`, message }],
    })
  }
}

export function hashPassword(password: string): Promise<string> {
  return withHashSlot(() => hash(normalizePassword(password), ARGON2_OPTIONS))
}

// Verified against when the user does not exist, so an unknown username costs the same time.
// Made on first use of the module, not on the first unknown login (which would then cost two
// hashes and stand out).
let dummyHash: Promise<string> | undefined
export function prepareDummyHash(): Promise<string> {
  dummyHash ??= hashPassword('gatehouse-dummy-password-for-timing')
  return dummyHash
}

export async function verifyPassword(
  passwordHash: string | undefined,
  password: string,
): Promise<boolean> {
  if ([...password].length > PASSWORD_MAX_LENGTH * 4) return false
  if (passwordHash === undefined) {
    const dummy = await prepareDummyHash()
    await withHashSlot(() => verify(dummy, normalizePassword(password))).catch(() => false)
    return false
  }
  try {
    return await withHashSlot(() => verify(passwordHash, normalizePassword(password)))
  } catch {
    return false
  }
}
