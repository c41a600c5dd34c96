import type { Kysely } from 'kysely'
import { createAuditLog } from '../audit/audit.repository.js'
import type { Config } from '../core/config.js'
import type { SqliteObserver } from '../core/db.js'
import type { CursorCodec } from '../core/pagination.js'
import type { PrimaryChannel } from '../core/primary-calls.js'
import type { SharedRedis } from '../core/redis.js'
import type { Database } from '../database.js'
import { createUsersRepository } from '../users/users.repository.js'
import { createAccountsService, type RegistrationEmails } from './accounts.service.js'
import { createApiKeysService } from './api-keys.service.js'
import { createAuthChanges, NO_OTHER_WRITERS } from './auth-changes.js'
import { type AuthEvents, quietAuthEvents } from './auth-events.js'
import { createAuthenticator } from './authenticator.js'
import { createCookieSessions } from './cookie-sessions.js'
import { counterStore } from './credential-counters.js'
import { createCredentialGuard } from './credential-guard.js'
import { createIdentityCache } from './identity-cache.js'
import { type SigningKeys, serverSecretOf } from './keys.js'
import { createPasswordCheck } from './password-check.js'
import { createRevocations } from './revocations.js'
import { createSessionsRepository } from './sessions.repository.js'
import { createSessionsService, type SecondFactorGate } from './sessions.service.js'
import { createSigningKeyRing, type KeyAdditions, type SigningKeyRing } from './signing-keys.js'
import { createAccessTokenIssuer, type TokenKeys } from './tokens.js'

export type Auth = Awaited<ReturnType<typeof createAuth>>

/**
 * The auth feature assembled: the authenticator behind the auth plugin, and the sessions, API
 * keys and accounts services, over the caches and revocations they share. Revocations are
 * loaded first, so a restart refuses what was refused before it.
 */
export async function createAuth(deps: {
  db: Kysely<Database>
  keys: SigningKeys
  /** Signs the cursors of the session and API-key lists (core/pagination.ts). */
  cursors: CursorCodec
  config: Pick<
    Config,
    'accessTokenTtl' | 'refreshTokenTtl' | 'passwordMinLength' | 'rateLimit' | 'database'
  >
  redis: SharedRedis | undefined
  /** Other instances share state through Redis or the database: local caches cannot decide. */
  shared: boolean
  /** SQLite on a file: what other processes commit is seen through it (auth-changes.ts). */
  observer: SqliteObserver | undefined
  /** A cluster worker's line to the primary, which counts for every worker (WORKERS>1). */
  primary: PrimaryChannel | undefined
  /** Registration's address and its mail (the recovery feature, wired in app.ts). */
  emails: RegistrationEmails
  /** The code step of a login with two-factor on (the mfa feature, wired in app.ts). */
  secondFactor: SecondFactorGate
  /** Refusals and logins as they happen (the metrics); none by default. */
  events?: AuthEvents
}) {
  const { db, config, redis, shared } = deps
  const events = deps.events ?? quietAuthEvents
  const dialect = config.database.kind
  const users = createUsersRepository(db, dialect)
  const identities = createIdentityCache(users, { shared })
  const revocations = createRevocations(createSessionsRepository(db), config.accessTokenTtl, {
    redis,
    checkDatabase: config.database.kind === 'postgres',
  })
  const apiKeys = createApiKeysService({ db, dialect, identities, cursors: deps.cursors, shared })
  // The key ring is made below, after the journal; a key the journal reports before then is in
  // the ring's first read.
  let ring: SigningKeyRing | undefined
  // Before the revocations load and any cache fills, so no change committed meanwhile is missed.
  const journal =
    deps.observer === undefined || shared
      ? undefined
      : createAuthChanges({
          observer: deps.observer,
          identities,
          apiKeys,
          revocations,
          signingKeyAdded: () => ring?.added(),
        })
  const changes = journal ?? NO_OTHER_WRITERS
  await revocations.load()
  let tokenKeys: TokenKeys
  if (deps.keys.algorithm === 'HS256') tokenKeys = deps.keys
  else {
    // Under EdDSA the key set is shared through the database (key rotation, API.md §11). SQLite
    // in memory has no other process to add keys: nothing to look for.
    const additions: KeyAdditions =
      journal !== undefined
        ? { kind: 'journal', catchUp: journal.catchUp }
        : dialect === 'sqlite' && deps.observer === undefined
          ? { kind: 'journal', catchUp: NO_OTHER_WRITERS.catchUp }
          : { kind: 'poll' }
    ring = await createSigningKeyRing({
      db,
      keys: deps.keys,
      accessTokenTtl: config.accessTokenTtl,
      additions,
    })
    tokenKeys = { algorithm: 'EdDSA', ring }
  }
  const accessTokens = createAccessTokenIssuer(tokenKeys, config.accessTokenTtl)
  /** GET /.well-known/jwks.json: empty under HS256, whose secret is never published. */
  const jwks = async () => (tokenKeys.algorithm === 'EdDSA' ? tokenKeys.ring.jwks() : { keys: [] })
  // Every password check (login, Basic, current_password) is counted here: API.md §3.
  const guard = createCredentialGuard({
    enabled: config.rateLimit,
    store: counterStore('credential-guard', { redis, primary: deps.primary }),
  })
  const passwords = createPasswordCheck({ users, audit: createAuditLog(db), guard, events })
  const sessions = createSessionsService({
    db,
    dialect,
    passwords,
    identities,
    revocations,
    accessTokens,
    accessTokenTtl: config.accessTokenTtl,
    refreshTokenTtl: config.refreshTokenTtl,
    cursors: deps.cursors,
    changes,
    secondFactor: deps.secondFactor,
    events,
  })
  const accounts = createAccountsService({
    db,
    dialect,
    passwords,
    identities,
    sessions,
    emails: deps.emails,
    passwordMinLength: config.passwordMinLength,
  })
  const cookies = createCookieSessions({
    sessions: createSessionsRepository(db),
    revocations,
    identities,
    secret: serverSecretOf(deps.keys),
  })
  const authenticator = createAuthenticator({
    accessTokens,
    revocations,
    identities,
    apiKeys,
    passwords,
    guard,
    cookies,
    changes,
    events,
  })
  return { identities, sessions, apiKeys, accounts, authenticator, cookies, guard, passwords, jwks }
}
