import type { Kysely } from 'kysely'
import { createAuditLog } from '../audit/audit.repository.js'
import type { Config } from '../core/config.js'
import type { SharedRedis } from '../core/redis.js'
import type { Database } from '../database.js'
import { createUsersRepository } from '../users/users.repository.js'
import { createAccountsService, type RegistrationEmails } from './accounts.service.js'
import { createApiKeysService } from './api-keys.service.js'
import { createAuthenticator } from './authenticator.js'
import { createCookieSessions } from './cookie-sessions.js'
import { createCredentialGuard } from './credential-guard.js'
import { createIdentityCache } from './identity-cache.js'
import { type SigningKeys, serverSecretOf } from './keys.js'
import { createPasswordCheck } from './password-check.js'
import { createRevocations } from './revocations.js'
import { createSessionsRepository } from './sessions.repository.js'
import { createSessionsService } from './sessions.service.js'
import { createAccessTokenIssuer } from './tokens.js'

export type Auth = Awaited<ReturnType<typeof createAuth>>

/**
 * The auth feature assembled: the authenticator behind the auth plugin, and the sessions, API
 * keys and accounts services, over the caches and revocations they share. Revocations are
 * loaded first, so a restart refuses what was refused before it.
 */
export async function createAuth(deps: {
  db: Kysely<Database>
  keys: SigningKeys
  config: Pick<
    Config,
    'accessTokenTtl' | 'refreshTokenTtl' | 'passwordMinLength' | 'rateLimit' | 'database'
  >
  redis: SharedRedis | undefined
  /** Other instances share state through Redis or the database: local caches cannot decide. */
  shared: boolean
  /** Registration's address and its mail (the recovery feature, wired in app.ts). */
  emails: RegistrationEmails
}) {
  const { db, config, redis, shared } = deps
  const dialect = config.database.kind
  const users = createUsersRepository(db, dialect)
  const identities = createIdentityCache(users, { shared })
  const revocations = createRevocations(createSessionsRepository(db), config.accessTokenTtl, {
    redis,
    checkDatabase: config.database.kind === 'postgres',
  })
  await revocations.load()
  const accessTokens = createAccessTokenIssuer(deps.keys, config.accessTokenTtl)
  // Every password check (login, Basic, current_password) is counted here: API.md §3.
  const guard = createCredentialGuard({ enabled: config.rateLimit, redis })
  const passwords = createPasswordCheck({ users, audit: createAuditLog(db), guard })
  const sessions = createSessionsService({
    db,
    dialect,
    passwords,
    identities,
    revocations,
    accessTokens,
    accessTokenTtl: config.accessTokenTtl,
    refreshTokenTtl: config.refreshTokenTtl,
  })
  const apiKeys = createApiKeysService({ db, dialect, identities, shared })
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
  })
  return { identities, sessions, apiKeys, accounts, authenticator, cookies }
}
