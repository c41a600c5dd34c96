import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { createAuditLog } from './audit/audit.repository.js'
import { auditRoutes, auditTag } from './audit/audit.routes.js'
import { ensureAdmin } from './auth/accounts.service.js'
import { createAuth } from './auth/auth.js'
import { authPlugin } from './auth/auth.plugin.js'
import { authRoutes, authTag } from './auth/auth.routes.js'
import type { AuthEvents } from './auth/auth-events.js'
import { sessionCookieNames } from './auth/cookie-sessions.js'
import { counterStore } from './auth/credential-counters.js'
import { loadSigningKeys, serverSecretOf } from './auth/keys.js'
import { profileRoutes, profileTag } from './auth/profile.routes.js'
import { campaignMailHooks } from './campaigns/campaigns.mail.js'
import { campaignsRoutes, campaignsTag } from './campaigns/campaigns.routes.js'
import { createCampaignsService } from './campaigns/campaigns.service.js'
import type { Config } from './core/config.js'
import { registerCors } from './core/cors.js'
import { type Db, migrateToLatest, openDatabase } from './core/db.js'
import { registerDocs } from './core/docs.js'
import { installHttpBasics } from './core/http.js'
import { createIdempotency } from './core/idempotency.js'
import { createLoggers } from './core/logger.js'
import { createCursorCodec } from './core/pagination.js'
import type { PrimaryChannel } from './core/primary-calls.js'
import { registerRateLimits } from './core/rate-limits.js'
import { openRedis, pingRedis } from './core/redis.js'
import { createServer, scheduleMaintenance } from './core/server.js'
import { SLOW_CLIENT_LIMITS, type SlowClientLimits } from './core/slow-clients.js'
import type { Database } from './database.js'
import { createMailDelivery } from './mail/mail.delivery.js'
import { readOutboxDepth } from './mail/outbox.repository.js'
import { installMetrics } from './metrics/metrics.js'
import { metricsRoutes } from './metrics/metrics.routes.js'
import { createMfaChallenges } from './mfa/mfa.challenges.js'
import { createSecretBox } from './mfa/mfa.crypto.js'
import { mfaAuthRoutes, mfaProfileRoutes } from './mfa/mfa.routes.js'
import { createMfaService } from './mfa/mfa.service.js'
import { migrations } from './migrations/index.js'
import { createAccountEmails } from './recovery/account-emails.js'
import {
  recoveryAuthRoutes,
  recoveryProfileRoutes,
  recoveryUsersRoutes,
} from './recovery/recovery.routes.js'
import { createRecoveryService } from './recovery/recovery.service.js'
import { apiIndexRoutes, opsRoutes, serviceTag } from './service/service.routes.js'
import { subscribersRoutes, subscribersTag } from './subscribers/subscribers.routes.js'
import { createSubscribersService } from './subscribers/subscribers.service.js'
import { TodoPageCache } from './todos/todos.page-cache.js'
import { todosRoutes, todosTag } from './todos/todos.routes.js'
import { createTodosService } from './todos/todos.service.js'
import { usersRoutes, usersTag } from './users/users.routes.js'
import { createUsersService } from './users/users.service.js'
import { assetRoutes, loadUiAssets } from './web/assets.js'
import { pagesRoutes } from './web/pages.routes.js'
import { recoveryPagesRoutes } from './web/recovery-pages.routes.js'
import { sessionPagesRoutes } from './web/session.routes.js'
import { shellRoutes } from './web/shells.routes.js'

/** The schema, then the configured admin: once, before any process serves. */
async function prepareDatabase(database: Db<Database>, config: Config): Promise<void> {
  await migrateToLatest(database, migrations)
  if (config.admin !== undefined) await ensureAdmin(database.kysely, database.dialect, config.admin)
}

/**
 * What the cluster primary does once before it forks workers (WORKERS>1), so they neither race
 * to create the signing keys nor each run the migrations and the admin bootstrap.
 */
export async function prepareStorage(config: Config): Promise<void> {
  loadSigningKeys(config)
  const database = openDatabase<Database>(config.database)
  try {
    await prepareDatabase(database, config)
  } finally {
    await database.close()
  }
}

export interface BuildOptions {
  /** false silences logs (tests); otherwise JSON lines at config.logLevel. */
  logger?: boolean
  /** Where log lines go instead of stdout (tests that read the log). */
  logStream?: { write(line: string): void }
  /** How slow a client may be; the contract's limits unless a test wants to wait less. */
  slowClients?: SlowClientLimits
  /** The built web UI (dist/ui: scripts/build-ui.js); without it pages render without script. */
  uiAssets?: string
  /**
   * A cluster worker (WORKERS>1): its line to the primary, which counts rate limits for all, and
   * which has already prepared the storage (`prepareStorage`).
   */
  primary?: PrimaryChannel
  /** How often the metrics read the outbox's depth; 15 s unless a test wants to wait less. */
  metricsOutboxEveryMs?: number
}

export type Services = Awaited<ReturnType<typeof buildServices>>

/**
 * Every service over the database, without HTTP: the server (buildApp) and the command line
 * (src/cli) build the same ones, so a rule lives in one place whichever way a change comes.
 * `mailThread`: where delivery runs; the command line delivers nothing (the server's outbox
 * worker sends what it queues) and passes none. `primary`: as in BuildOptions.
 */
export async function buildServices(
  config: Config,
  log: FastifyBaseLogger,
  options: {
    mailThread?: URL
    primary?: PrimaryChannel | undefined
    /** Refusals and logins as they happen (the server's metrics); none by default. */
    authEvents?: AuthEvents | undefined
  } = {},
) {
  const keys = loadSigningKeys(config)
  const database = openDatabase<Database>(config.database)
  // A cluster worker finds it done by the primary (prepareStorage).
  if (options.primary === undefined) await migrateToLatest(database, migrations)
  const db = database.kysely

  // Services, each with its dependencies spelled out.
  const serverSecret = serverSecretOf(keys)
  const cursors = createCursorCodec(serverSecret)
  const audit = createAuditLog(db)
  // Several instances share state through Redis or the database; this process's caches alone
  // cannot be trusted then.
  const redis = config.redisUrl === undefined ? undefined : await openRedis(config.redisUrl, log)
  // On PostgreSQL other instances may share the database even without Redis.
  const shared = redis !== undefined || config.database.kind === 'postgres'
  const mail = createMailDelivery({
    config,
    secret: serverSecret,
    database,
    log,
    // Every feature's part in delivery; src/mail.thread.ts gives the mail thread the same.
    hooks: campaignMailHooks,
    thread: options.mailThread,
  })
  // An account's address and its mails: registration (auth) and profile changes (users) use it.
  const accountEmails = createAccountEmails({
    mail,
    dialect: database.dialect,
    publicUrl: config.publicUrl,
  })
  const auth = await createAuth({
    db,
    keys,
    cursors,
    config,
    redis,
    shared,
    observer: database.observer,
    primary: options.primary,
    emails: accountEmails,
    secondFactor: createMfaChallenges(db),
    events: options.authEvents,
  })
  const mfa = createMfaService({
    db,
    dialect: database.dialect,
    secrets: createSecretBox(serverSecret),
    serverSecret,
    guard: auth.guard,
    passwords: auth.passwords,
    sessions: auth.sessions,
    identities: auth.identities,
  })
  // SQLite only: it alone tells cheaply when another connection wrote (see TodoPageCache).
  const todoPages =
    database.dataVersion !== undefined && config.todoListCacheMb > 0
      ? new TodoPageCache(database.dataVersion, config.todoListCacheMb * 1024 * 1024)
      : undefined
  // Users know no other feature: what follows from a change of an account is wired here.
  const usersService = createUsersService({
    db,
    dialect: database.dialect,
    cursors,
    events: {
      changed: (id) => {
        auth.identities.forget(id)
        accountEmails.flush()
      },
      emailChanged: (before, after, trx) => accountEmails.changed(before, after, trx),
      disabling: (id, by, trx) => auth.apiKeys.revokeAllOf(id, by, trx),
      // Sessions end too, so re-enabling later revives no old token.
      disabled: async (id) => {
        auth.apiKeys.forgetUser(id)
        await auth.sessions.endAll(id)
      },
      deleted: (id) => {
        todoPages?.changed(id)
        auth.identities.forget(id)
        auth.apiKeys.forgetUser(id)
      },
    },
  })
  const recovery = createRecoveryService({
    db,
    dialect: database.dialect,
    mail,
    credentials: {
      // API.md §9: a password reset revokes every API key, with the reset.
      revokeApiKeys: (id, by, trx) => auth.apiKeys.revokeAllOf(id, by, trx),
      passwordReplaced: async (id) => {
        auth.identities.forget(id)
        auth.apiKeys.forgetUser(id)
        await auth.sessions.endAll(id)
      },
    },
    publicUrl: config.publicUrl,
    passwordResetTtl: config.passwordResetTtl,
    passwordMinLength: config.passwordMinLength,
    resetCounts: config.rateLimit
      ? counterStore('password-reset', { redis, primary: options.primary })
      : undefined,
  })
  const todos = createTodosService({ db, dialect: database.dialect, cursors, pages: todoPages })
  const idempotency = createIdempotency(db, serverSecret)
  const subscribersService = createSubscribersService({
    db,
    dialect: database.dialect,
    mail,
    cursors,
  })
  const campaignsService = createCampaignsService({
    db,
    cursors,
    // The queuer (beside delivery) looks for campaigns marked 'queuing'.
    queueCampaign: mail.queued,
  })

  return {
    config,
    keys,
    database,
    redis,
    serverSecret,
    cursors,
    audit,
    mail,
    auth,
    mfa,
    users: usersService,
    recovery,
    todos,
    idempotency,
    subscribers: subscribersService,
    campaigns: campaignsService,
    async close(): Promise<void> {
      // Before the database closes: queuing stops after its chunk, in-flight mails are recorded,
      // unstarted ones given back.
      await mail.stop()
      await redis?.close()
      await database.close()
    },
  }
}

/** Builds a ready, not yet listening, Gatehouse: core first, then every feature. */
export async function buildApp(
  config: Config,
  options: BuildOptions = {},
): Promise<FastifyInstance> {
  const loggers = createLoggers(
    options.logger === false ? 'silent' : config.logLevel,
    options.logStream,
  )
  const app = createServer(config, loggers, options.slowClients ?? SLOW_CLIENT_LIMITS)
  // Before any route: every request is counted, whichever answers it.
  const metrics = config.metrics
    ? installMetrics(app, { outboxEveryMs: options.metricsOutboxEveryMs ?? 15_000 })
    : undefined
  const services = await buildServices(config, app.log, {
    authEvents: metrics?.authEvents,
    // Beside this file in the build (dist/); beside the source (tests) there is none.
    mailThread: new URL('./mail.thread.js', import.meta.url),
    primary: options.primary,
  })
  const {
    database,
    redis,
    cursors,
    audit,
    mail,
    auth,
    mfa,
    recovery,
    todos,
    idempotency,
    users: usersService,
    subscribers: subscribersService,
    campaigns: campaignsService,
  } = services
  // A cluster worker finds it made by the primary (prepareStorage).
  if (options.primary === undefined && config.admin !== undefined) {
    await ensureAdmin(database.kysely, database.dialect, config.admin)
  }

  metrics?.watchOutbox((bound) => readOutboxDepth(database.kysely, database.dialect, bound))

  const trustedOrigins = [new URL(config.publicUrl).origin, ...config.corsOrigins]
  const cookies = sessionCookieNames(config.publicUrl)

  await registerCors(app, config)
  await registerRateLimits(app, config, { redis, primary: options.primary })

  await app.register(authPlugin, {
    authenticator: auth.authenticator,
    allowQueryToken: config.allowQueryToken,
    trustedOrigins,
    cookies,
    refusalLimit: config.rateLimit ? app.rateLimit() : undefined,
    events: metrics?.authEvents,
  })
  // 404s are rate limited too: an attacker could otherwise probe for URLs without limit.
  installHttpBasics(app, {
    notFoundPreHandler: config.rateLimit ? app.rateLimit() : undefined,
    notFoundOnResponse: metrics?.unmatchedHook,
  })
  // Before the routes it documents; after the rate limits and the 404/405 handling its routes get.
  await registerDocs(app, {
    tags: [
      serviceTag,
      authTag,
      profileTag,
      usersTag,
      todosTag,
      auditTag,
      subscribersTag,
      campaignsTag,
    ],
  })

  await app.register(opsRoutes, {
    dependencies: {
      'The database': () => database.ping(),
      ...(redis === undefined ? {} : { Redis: () => pingRedis(redis) }),
    },
    jwks: auth.jwks,
  })
  if (metrics !== undefined) await app.register(metricsRoutes, { metrics })
  await app.register(apiIndexRoutes, { prefix: '/api/v1' })
  await app.register(authRoutes, { prefix: '/api/v1/auth', ...auth, idempotency })
  await app.register(profileRoutes, {
    prefix: '/api/v1/profile',
    ...auth,
    users: usersService,
    idempotency,
  })
  await app.register(recoveryAuthRoutes, { prefix: '/api/v1/auth', recovery })
  await app.register(recoveryProfileRoutes, { prefix: '/api/v1/profile', recovery })
  await app.register(mfaAuthRoutes, { prefix: '/api/v1/auth', mfa })
  await app.register(mfaProfileRoutes, { prefix: '/api/v1/profile', mfa })
  await app.register(usersRoutes, { prefix: '/api/v1/users', users: usersService })
  await app.register(recoveryUsersRoutes, { prefix: '/api/v1/users', recovery })
  await app.register(todosRoutes, { prefix: '/api/v1/todos', todos, idempotency })
  await app.register(auditRoutes, { prefix: '/api/v1/audit', audit, cursors })
  await app.register(subscribersRoutes, {
    prefix: '/api/v1/subscribers',
    subscribers: subscribersService,
    idempotency,
  })
  await app.register(campaignsRoutes, {
    prefix: '/api/v1/campaigns',
    campaigns: campaignsService,
    idempotency,
  })
  const uiAssets = loadUiAssets(options.uiAssets, (line) => app.log.warn(line))
  await app.register(assetRoutes, { assets: uiAssets })
  await app.register(shellRoutes, {
    assets: uiAssets,
    passwordMinLength: config.passwordMinLength,
  })
  await app.register(sessionPagesRoutes, {
    sessions: auth.sessions,
    mfa,
    cookieSessions: auth.cookies,
    cookies,
    trustedOrigins,
    assets: uiAssets,
  })
  await app.register(pagesRoutes, { subscribers: subscribersService, assets: uiAssets })
  await app.register(recoveryPagesRoutes, { recovery, assets: uiAssets })

  scheduleMaintenance(app, [
    auth.sessions.pruneExpired,
    idempotency.purgeExpired,
    subscribersService.pruneExpired,
    recovery.pruneExpired,
    mfa.pruneExpired,
  ])

  // Also finishes queuing campaigns a crash (or another instance) left half queued.
  mail.start()
  app.addHook('onClose', services.close)
  return app
}
