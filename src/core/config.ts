import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import path from 'node:path'

/** Thrown for a bad setting; `main` prints `message` as the one line and exits before writing anything. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`Invalid ${variable}: ${detail}`)
    this.name = 'ConfigError'
  }
}

export type DatabaseConfig =
  | { readonly kind: 'sqlite'; readonly path: string; readonly synchronous: 'NORMAL' | 'FULL' }
  | { readonly kind: 'postgres'; readonly url: string; readonly poolSize: number }

export type JwtAlgorithm = 'HS256' | 'EdDSA'

export interface Config {
  readonly nodeEnv: string
  readonly port: number
  readonly host: string
  readonly dataDir: string
  readonly database: DatabaseConfig
  readonly redisUrl: string | undefined
  /** Unset: generated once and kept in the data directory. */
  readonly jwtSecret: string | undefined
  readonly jwtAlgorithm: JwtAlgorithm
  readonly accessTokenTtl: number
  readonly refreshTokenTtl: number
  /** Lifetime of a password-reset link, seconds. */
  readonly passwordResetTtl: number
  readonly admin: { readonly username: string; readonly password: string } | undefined
  readonly smtpUrl: string | undefined
  readonly mailFrom: string
  readonly publicUrl: string
  readonly allowQueryToken: boolean
  readonly rateLimit: boolean
  readonly bodyLimit: number
  readonly passwordMinLength: number
  readonly trustedProxies: readonly string[] | undefined
  readonly corsOrigins: readonly string[]
  readonly logLevel: string
  /** Mails in flight at once (half as many pooled SMTP connections). */
  readonly mailConcurrency: number
  /** How long an outbox worker owns a claimed mail; after a crash it goes again then. */
  readonly outboxLeaseSeconds: number
  /** First retry delay after a 4xx or a network error; doubles each attempt. */
  readonly mailRetryBaseMs: number
  readonly mailMaxAttempts: number
  /** Subscribers queued per transaction when a campaign is sent. */
  readonly campaignQueueChunk: number
  /** Memory for cached todo list pages, in MiB; 0 turns the cache off (SQLite only). */
  readonly todoListCacheMb: number
  /** Processes serving the one port (node:cluster); 1 runs none beside this one. */
  readonly workers: number
  /** Prometheus metrics collected and served at `GET /metrics`; false: neither. */
  readonly metrics: boolean
}

type Env = Readonly<Record<string, string | undefined>>

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`)
  const value = Number(raw)
  if (value < min || value > max) {
    throw new ConfigError(name, `expected ${min}–${max}, got ${value}`)
  }
  return value
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (raw === 'true' || raw === '1') return true
  if (raw === 'false' || raw === '0') return false
  throw new ConfigError(name, `expected true or false, got "${raw}"`)
}

function list(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

function parseDatabase(env: Env): DatabaseConfig {
  const url = env.DATABASE_URL || 'sqlite:./data/gatehouse.db'
  const synchronousRaw = (env.SQLITE_SYNCHRONOUS || 'NORMAL').toUpperCase()
  if (synchronousRaw !== 'NORMAL' && synchronousRaw !== 'FULL') {
    throw new ConfigError(
      'SQLITE_SYNCHRONOUS',
      `expected NORMAL or FULL, got "${env.SQLITE_SYNCHRONOUS}"`,
    )
  }
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length)
    if (file === '') throw new ConfigError('DATABASE_URL', 'sqlite: needs a path or :memory:')
    return { kind: 'sqlite', path: file, synchronous: synchronousRaw }
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    try {
      new URL(url)
    } catch {
      throw new ConfigError('DATABASE_URL', 'not a valid postgres:// URL')
    }
    return { kind: 'postgres', url, poolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 1000) }
  }
  throw new ConfigError('DATABASE_URL', 'expected sqlite:PATH, sqlite::memory: or postgres://…')
}

function parseUrl(name: string, raw: string, protocols: readonly string[]): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    // The value is not echoed: SMTP and Redis URLs can carry a password.
    throw new ConfigError(name, 'not a valid URL')
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(name, `expected a ${protocols.join(' or ')} URL`)
  }
  return url
}

function isProxyAddress(entry: string): boolean {
  const [address, bits, ...rest] = entry.split('/')
  if (rest.length > 0 || address === undefined) return false
  const family = isIP(address)
  if (family === 0) return false
  if (bits === undefined) return true
  if (!/^\d+$/.test(bits)) return false
  return Number(bits) <= (family === 4 ? 32 : 128)
}

function parseWorkers(env: Env, database: DatabaseConfig): number {
  const raw = env.WORKERS
  if (raw !== undefined && raw !== 'auto' && raw !== '' && !/^\d+$/.test(raw)) {
    throw new ConfigError('WORKERS', `expected a whole number or auto, got "${raw}"`)
  }
  // auto: the CPUs this process may run on (its affinity), not all the host has.
  const workers = raw === 'auto' ? availableParallelism() : integer(env, 'WORKERS', 1, 1, 1024)
  if (workers > 1 && database.kind === 'sqlite' && database.path === ':memory:') {
    // Each process would serve a database of its own.
    throw new ConfigError(
      'WORKERS',
      'sqlite::memory: lives in one process; use a file or WORKERS=1',
    )
  }
  return workers
}

/** RFC 1123 host names: letters, digits and inner hyphens, in dot-separated labels. */
const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i

/**
 * Reads and validates every setting once. Pure: it never touches the disk, so a bad
 * value stops start-up before anything is written.
 */
export function loadConfig(env: Env = process.env): Config {
  const port = integer(env, 'PORT', 3000, 0, 65535)
  const host = env.HOST || '127.0.0.1'
  // A dotted number that is not an IPv4 address (999.1.1.1) is no host name either.
  if (isIP(host) === 0 && (!HOST_NAME.test(host) || /^[\d.]+$/.test(host))) {
    throw new ConfigError('HOST', `expected an IP address or a host name, got "${host}"`)
  }
  const database = parseDatabase(env)
  const dataDir = path.resolve(
    env.DATA_DIR ||
      (database.kind === 'sqlite' && database.path !== ':memory:'
        ? path.dirname(database.path)
        : './data'),
  )

  const jwtSecret = env.JWT_SECRET || undefined
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret, 'utf8') < 32) {
    throw new ConfigError('JWT_SECRET', 'must be at least 32 bytes')
  }
  const jwtAlgorithm = env.JWT_ALGORITHM || 'HS256'
  if (jwtAlgorithm !== 'HS256' && jwtAlgorithm !== 'EdDSA') {
    throw new ConfigError('JWT_ALGORITHM', `expected HS256 or EdDSA, got "${jwtAlgorithm}"`)
  }

  const redisUrl = env.REDIS_URL || undefined
  if (redisUrl !== undefined) parseUrl('REDIS_URL', redisUrl, ['redis:', 'rediss:'])

  const smtpUrl = env.SMTP_URL || undefined
  if (smtpUrl !== undefined) parseUrl('SMTP_URL', smtpUrl, ['smtp:', 'smtps:'])

  const mailFrom = env.MAIL_FROM || 'Gatehouse <no-reply@localhost>'
  if (/[\r\n]/.test(mailFrom) || !mailFrom.includes('@')) {
    throw new ConfigError('MAIL_FROM', 'expected an address such as "Name <user@host>"')
  }

  const publicUrl = parseUrl(
    'PUBLIC_URL',
    env.PUBLIC_URL || `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ['http:', 'https:'],
  )
    .toString()
    .replace(/\/+$/, '')

  const passwordMinLength = integer(env, 'PASSWORD_MIN_LENGTH', 12, 8, 64)

  const adminUsername = env.ADMIN_USERNAME || undefined
  const adminPassword = env.ADMIN_PASSWORD || undefined
  if ((adminUsername === undefined) !== (adminPassword === undefined)) {
    throw new ConfigError(
      adminUsername === undefined ? 'ADMIN_USERNAME' : 'ADMIN_PASSWORD',
      'ADMIN_USERNAME and ADMIN_PASSWORD go together',
    )
  }
  if (adminUsername !== undefined && !/^[a-z0-9_.-]{3,32}$/.test(adminUsername)) {
    throw new ConfigError('ADMIN_USERNAME', 'expected 3–32 of a-z 0-9 _ . -')
  }
  if (
    adminPassword !== undefined &&
    [...adminPassword.normalize('NFKC')].length < passwordMinLength
  ) {
    throw new ConfigError('ADMIN_PASSWORD', `must be at least ${passwordMinLength} characters`)
  }

  const trustedProxiesList = list(env.TRUSTED_PROXIES)
  for (const entry of trustedProxiesList) {
    if (!isProxyAddress(entry)) {
      throw new ConfigError('TRUSTED_PROXIES', `"${entry}" is not an IP address or CIDR range`)
    }
  }

  const corsOrigins = list(env.CORS_ORIGINS)
  for (const origin of corsOrigins) {
    const url = parseUrl('CORS_ORIGINS', origin, ['http:', 'https:'])
    if (url.origin !== origin) {
      throw new ConfigError('CORS_ORIGINS', `"${origin}" is not an origin (scheme://host[:port])`)
    }
  }

  const logLevel = env.LOG_LEVEL || 'info'
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `unknown level "${logLevel}"`)
  }

  return Object.freeze({
    nodeEnv: env.NODE_ENV || 'development',
    port,
    host,
    dataDir,
    database,
    redisUrl,
    jwtSecret,
    jwtAlgorithm,
    accessTokenTtl: integer(env, 'ACCESS_TOKEN_TTL', 900, 1, 86_400 * 365),
    refreshTokenTtl: integer(env, 'REFRESH_TOKEN_TTL', 2_592_000, 1, 86_400 * 3650),
    passwordResetTtl: integer(env, 'PASSWORD_RESET_TTL', 1800, 60, 86_400 * 7),
    admin:
      adminUsername !== undefined && adminPassword !== undefined
        ? Object.freeze({ username: adminUsername, password: adminPassword })
        : undefined,
    smtpUrl,
    mailFrom,
    publicUrl,
    allowQueryToken: boolean(env, 'ALLOW_QUERY_TOKEN', false),
    rateLimit: boolean(env, 'RATE_LIMIT', true),
    bodyLimit: integer(env, 'BODY_LIMIT', 65_536, 1, 1024 * 1024 * 1024),
    passwordMinLength,
    trustedProxies: trustedProxiesList.length > 0 ? Object.freeze(trustedProxiesList) : undefined,
    corsOrigins: Object.freeze(corsOrigins),
    logLevel,
    mailConcurrency: integer(env, 'MAIL_CONCURRENCY', 32, 1, 512),
    outboxLeaseSeconds: integer(env, 'OUTBOX_LEASE_SECONDS', 60, 1, 86_400),
    mailRetryBaseMs: integer(env, 'MAIL_RETRY_BASE_MS', 5_000, 1, 3_600_000),
    mailMaxAttempts: integer(env, 'MAIL_MAX_ATTEMPTS', 8, 1, 100),
    campaignQueueChunk: integer(env, 'CAMPAIGN_QUEUE_CHUNK', 250, 1, 100_000),
    todoListCacheMb: integer(env, 'TODO_LIST_CACHE_MB', 8, 0, 4096),
    workers: parseWorkers(env, database),
    metrics: boolean(env, 'METRICS', true),
  })
}
