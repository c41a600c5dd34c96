import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Config } from '../core/config.js'
import { nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import { loadSigningKeys, type SigningKeys, serverSecretOf, thumbprint } from './keys.js'

/** How far apart two instances' clocks may be; also the verifier's tolerance for exp and nbf. */
export const CLOCK_TOLERANCE_MS = 30_000
/** At most this often does a token naming a kid we do not know make us read the key set. */
const UNKNOWN_KID_RELOAD_MS = 1000
/** Without a change journal, at most this often do we look for a key another process added. */
const ADDED_KEY_CHECK_MS = 1000
const KID = /^[A-Za-z0-9_-]{43}$/

/** One Ed25519 public key of ours, and until when tokens it signed may still be live. */
export interface VerifyingKey {
  readonly kid: string
  readonly publicKey: KeyObject
  /** When it stopped signing, or undefined while it signs. */
  readonly retiredAt: number | undefined
}

export interface ActiveKey {
  readonly kid: string
  readonly privateKey: KeyObject
}

/**
 * How often an instance re-reads the key set before it signs, whatever else it learnt: a
 * backstop to the journal or the look at the newest key (`KeyAdditions`), and the clock by which
 * retired keys leave the JWKS.
 */
export function refreshIntervalMs(accessTokenTtl: number): number {
  return Math.min(60_000, (accessTokenTtl * 1000) / 2)
}

/**
 * How long a key stays published after it stopped signing: an instance that has not yet re-read
 * the key set may sign with it for one refresh interval more, its last token lives one TTL, and
 * is accepted a clock tolerance past its exp.
 */
export function publishedForMs(accessTokenTtl: number): number {
  return refreshIntervalMs(accessTokenTtl) + accessTokenTtl * 1000 + CLOCK_TOLERANCE_MS
}

/**
 * The key that encrypts rotated private keys in the database: derived from the server secret
 * (the data-dir key), so a copy of the database alone signs nothing, and every instance that
 * shares the data-dir key can read them.
 */
function storageKey(keys: SigningKeys): Buffer {
  return Buffer.from(
    hkdfSync('sha256', serverSecretOf(keys), Buffer.alloc(0), 'gatehouse signing keys', 32),
  )
}

/** iv ‖ tag ‖ ciphertext, base64url; the kid is authenticated with it, so rows cannot swap. */
function encrypt(key: Buffer, kid: string, privateKey: KeyObject): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  cipher.setAAD(Buffer.from(kid))
  const body = Buffer.concat([
    cipher.update(privateKey.export({ format: 'der', type: 'pkcs8' })),
    cipher.final(),
  ])
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
}

function decrypt(key: Buffer, kid: string, stored: string): KeyObject {
  const bytes = Buffer.from(stored, 'base64url')
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12))
  decipher.setAAD(Buffer.from(kid))
  decipher.setAuthTag(bytes.subarray(12, 28))
  const der = Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()])
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
}

const publicKeyOf = (x: string): KeyObject =>
  createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' })

export interface RotatedKey {
  /** The key that signs from now on. */
  readonly kid: string
  /** The key it replaces, still published until `previousPublishedUntil`. */
  readonly previousKid: string
  readonly previousPublishedUntil: string
}

/**
 * `gatehouse keys rotate` (API.md §11): a new Ed25519 key signs from now on, in every instance on
 * this database (see `KeyAdditions` for how they learn of it); the previous one stays in
 * the JWKS until every token it signed has expired. Under HS256 there is nothing to rotate: this
 * throws, saying so. Several rotations at once are safe: the last by time signs.
 */
export async function rotateSigningKey(deps: {
  db: Kysely<Database>
  config: Pick<Config, 'jwtAlgorithm' | 'jwtSecret' | 'dataDir' | 'accessTokenTtl'>
}): Promise<RotatedKey> {
  const keys = loadSigningKeys(deps.config)
  if (keys.algorithm !== 'EdDSA') {
    throw new Error(
      'Signing keys rotate only under JWT_ALGORITHM=EdDSA; under HS256 the one secret is JWT_SECRET (or DATA_DIR/jwt-secret), and replacing it ends every session',
    )
  }
  const previous = await lastKey(deps.db, keys.kid)
  const pair = generateKeyPairSync('ed25519')
  const { x } = pair.publicKey.export({ format: 'jwk' })
  if (x === undefined) throw new Error('An Ed25519 public key without x')
  const kid = thumbprint({ kty: 'OKP', crv: 'Ed25519', x })
  const createdAt = nowIso()
  await deps.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('signing_keys')
      .values({
        kid,
        origin_kid: keys.kid,
        public_x: x,
        private_key: encrypt(storageKey(keys), kid, pair.privateKey),
        created_at: createdAt,
      })
      .execute()
    // Keys before this one never sign again: their private parts need not be kept. (A rotation
    // racing this one and ordered after it keeps its own.)
    await trx
      .updateTable('signing_keys')
      .set({ private_key: null })
      .where('origin_kid', '=', keys.kid)
      .where('private_key', 'is not', null)
      .where((eb) =>
        eb.or([
          eb('created_at', '<', createdAt),
          eb.and([eb('created_at', '=', createdAt), eb('kid', '<', kid)]),
        ]),
      )
      .execute()
  })
  return {
    kid,
    previousKid: previous?.kid ?? keys.kid,
    previousPublishedUntil: new Date(
      Date.parse(createdAt) + publishedForMs(deps.config.accessTokenTtl),
    ).toISOString(),
  }
}

async function lastKey(db: Kysely<Database>, originKid: string) {
  return db
    .selectFrom('signing_keys')
    .select(['kid'])
    .where('origin_kid', '=', originKid)
    .orderBy('created_at', 'desc')
    .orderBy('kid', 'desc')
    .limit(1)
    .executeTakeFirst()
}

export type SigningKeyRing = Awaited<ReturnType<typeof createSigningKeyRing>>

/**
 * How keys another process adds (`gatehouse keys rotate`) reach this one before it signs a token
 * or publishes the JWKS, so a rotation counts at once in a running server (API.md §11):
 * - `journal`: SQLite's change journal (auth-changes.ts, migration 014) calls the ring's
 *   `added()` when it reads a new key; `catchUp` is one PRAGMA while nobody wrote.
 * - `poll`: no journal (PostgreSQL, or SQLite shared through Redis): the count and newest time
 *   of our keys are read at most once a second, and the key set when they moved.
 */
export type KeyAdditions =
  | { readonly kind: 'journal'; readonly catchUp: () => Promise<void> }
  | { readonly kind: 'poll' }

/** How many of our keys the database held at the last read, and the newest one's time. */
interface KeysSeen {
  readonly count: number
  readonly latest: string | null
}

/**
 * This process's view of the EdDSA key set: the data-dir key, then each key rotation added (the
 * last one signs). Before signing or publishing, keys added elsewhere are looked for (see
 * `KeyAdditions`) and the set re-read once a refresh interval has passed; it is also re-read when
 * a token names a kid we do not know (at most once a second, so a flood of made-up kids costs one
 * read a second). A kid only ever selects among our keys; a key named or carried by a token is
 * never used.
 */
export async function createSigningKeyRing(deps: {
  db: Kysely<Database>
  keys: Extract<SigningKeys, { algorithm: 'EdDSA' }>
  accessTokenTtl: number
  additions: KeyAdditions
}) {
  const { db, keys, accessTokenTtl, additions } = deps
  const refreshMs = refreshIntervalMs(accessTokenTtl)
  const publishedFor = publishedForMs(accessTokenTtl)
  const secret = storageKey(keys)
  let active: ActiveKey = { kid: keys.kid, privateKey: keys.privateKey }
  let verifying = new Map<string, VerifyingKey>()
  // Wall clock of the last read, to compare with the database's times; a clock stepped either
  // way by a refresh interval also makes us read again.
  let loadedAt = 0
  // Monotonic start of the last read: how often a made-up kid can make us read.
  let readAt = Number.NEGATIVE_INFINITY
  let loading: Promise<void> | undefined
  // A key was added since the last read began: read before the next signing or publishing.
  let stale = false
  // What the last read saw, for the poll to compare with.
  let seen: KeysSeen = { count: 0, latest: null }
  // Monotonic start of the last poll (a read counts as one).
  let checkedAt = Number.NEGATIVE_INFINITY
  let checking: Promise<void> | undefined

  const published = (key: VerifyingKey, now: number) =>
    key.retiredAt === undefined || now < key.retiredAt + publishedFor

  async function read(): Promise<void> {
    readAt = performance.now()
    checkedAt = readAt
    // Cleared first: a key added while this read runs may be missed by it, and is read next time.
    stale = false
    const startedAt = Date.now()
    const rows = await db
      .selectFrom('signing_keys')
      .select(['kid', 'public_x', 'private_key', 'created_at'])
      .where('origin_kid', '=', keys.kid)
      .orderBy('created_at')
      .orderBy('kid')
      .execute()
      .catch((error: unknown) => {
        stale = true
        throw error
      })
    const next = new Map<string, VerifyingKey>()
    // Each key stopped signing when the next one began.
    const retiredAt = (index: number) => {
      const following = rows[index]
      return following === undefined ? undefined : Date.parse(following.created_at)
    }
    const origin = { kid: keys.kid, publicKey: keys.publicKey, retiredAt: retiredAt(0) }
    if (published(origin, startedAt)) next.set(origin.kid, origin)
    rows.forEach((row, index) => {
      const key = {
        kid: row.kid,
        publicKey: publicKeyOf(row.public_x),
        retiredAt: retiredAt(index + 1),
      }
      if (published(key, startedAt)) next.set(key.kid, key)
    })
    const last = rows.at(-1)
    if (last !== undefined && last.kid !== active.kid) {
      if (last.private_key === null) {
        throw new Error(`The signing key ${last.kid} has no private key in the database`)
      }
      active = { kid: last.kid, privateKey: decrypt(secret, last.kid, last.private_key) }
    }
    verifying = next
    loadedAt = startedAt
    seen = { count: rows.length, latest: last?.created_at ?? null }
  }

  /** One read at a time; callers during a read wait for it. */
  function reload(): Promise<void> {
    loading ??= read().finally(() => {
      loading = undefined
    })
    return loading
  }

  /** Marks the set stale when our keys' count or newest time moved since the last read. */
  async function poll(): Promise<void> {
    checkedAt = performance.now()
    const now = await db
      .selectFrom('signing_keys')
      .select((eb) => [
        eb.fn.countAll<number | string | bigint>().as('count'),
        eb.fn.max('created_at').as('latest'),
      ])
      .where('origin_kid', '=', keys.kid)
      .executeTakeFirst()
    // PostgreSQL counts in bigint, which its driver returns as a string.
    if (Number(now?.count ?? 0) !== seen.count || (now?.latest ?? null) !== seen.latest) {
      stale = true
    }
  }

  /** Learns of keys added elsewhere: through the journal, or by a poll at most once a second. */
  async function lookForAdded(): Promise<void> {
    if (additions.kind === 'journal') return additions.catchUp()
    if (checking === undefined && performance.now() - checkedAt >= ADDED_KEY_CHECK_MS) {
      checking = poll().finally(() => {
        checking = undefined
      })
    }
    await checking
  }

  async function fresh(): Promise<void> {
    await lookForAdded()
    if (stale || Math.abs(Date.now() - loadedAt) >= refreshMs) await reload()
    // A key added while a read was already running may not be in it.
    if (stale) await reload()
  }

  await reload()

  return {
    /** The key that signs now (keys added elsewhere looked for, and the set re-read, first). */
    async active(): Promise<ActiveKey> {
      await fresh()
      return active
    },
    /** The journal read that another process added a key: read the set before it is next used. */
    added(): void {
      stale = true
    },
    /** Our key for `kid`, if it is still published; an unknown one makes us look (bounded). */
    async verifying(kid: string): Promise<VerifyingKey | undefined> {
      const now = Date.now()
      const known = verifying.get(kid)
      if (known !== undefined) return published(known, now) ? known : undefined
      if (!KID.test(kid)) return undefined
      const wait = readAt + UNKNOWN_KID_RELOAD_MS - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      if (performance.now() - readAt >= UNKNOWN_KID_RELOAD_MS) await reload()
      else await loading
      const found = verifying.get(kid)
      return found !== undefined && published(found, Date.now()) ? found : undefined
    },
    /** GET /.well-known/jwks.json: every key whose tokens may still be live. */
    async jwks(): Promise<{ keys: Record<string, unknown>[] }> {
      await fresh()
      const now = Date.now()
      return {
        keys: [...verifying.values()]
          .filter((key) => published(key, now))
          .map((key) => ({
            ...key.publicKey.export({ format: 'jwk' }),
            kid: key.kid,
            alg: 'EdDSA',
            use: 'sig',
          })),
      }
    },
  }
}
