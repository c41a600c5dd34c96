import cors from '@fastify/cors'
import rateLimit from '@fastify/rate-limit'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify'
import type { Logger } from 'pino'
import { createAuditLog } from './audit/audit.repository.js'
import { auditRoutes } from './audit/audit.routes.js'
import { createApiKeysRepository } from './auth/api-keys.repository.js'
import { authPlugin } from './auth/auth.plugin.js'
import { authRoutes } from './auth/auth.routes.js'
import { createAuthService } from './auth/auth.service.js'
import { createCredentialGuard } from './auth/credential-guard.js'
import { createIdentityCache } from './auth/identity-cache.js'
import { loadSigningKeys, publicJwks } from './auth/keys.js'
import { profileRoutes } from './auth/profile.routes.js'
import { createRevocations } from './auth/revocations.js'
import { createSessionsRepository } from './auth/sessions.repository.js'
import { createAccessTokenIssuer } from './auth/tokens.js'
import { campaignMailHooks } from './campaigns/campaigns.mail.js'
import { campaignsRoutes } from './campaigns/campaigns.routes.js'
import { createCampaignsService } from './campaigns/campaigns.service.js'
import { clientAddressKey } from './core/client-address.js'
import type { Config } from './core/config.js'
import { migrateToLatest, openDatabase } from './core/db.js'
import { AppError, errorHandler, failureOf } from './core/errors.js'
import {
  frameworkErrors,
  installHttpBasics,
  installRequestChecks,
  refuseUnreadRequest,
  serverOptions,
} from './core/http.js'
import { createIdempotency } from './core/idempotency.js'
import { installJsonBodyParser } from './core/json-body.js'
import { createLoggers } from './core/logger.js'
import { createCursorCodec } from './core/pagination.js'
import { openRedis, pingRedis } from './core/redis.js'
import { ProblemSchema } from './core/schemas.js'
import { SLOW_CLIENT_LIMITS, type SlowClientLimits } from './core/slow-clients.js'
import { validatorCompiler } from './core/validation.js'
import type { Database } from './database.js'
import { createMailDelivery } from './mail/mail.delivery.js'
import { migrations } from './migrations/index.js'
import { apiIndexRoutes, opsRoutes } from './service/service.routes.js'
import { subscribersRoutes } from './subscribers/subscribers.routes.js'
import { createSubscribersService } from './subscribers/subscribers.service.js'
import { TodoPageCache } from './todos/todos.page-cache.js'
import { todosRoutes } from './todos/todos.routes.js'
import { createTodosService } from './todos/todos.service.js'
import { createUsersRepository } from './users/users.repository.js'
import { usersRoutes } from './users/users.routes.js'
import { createUsersService } from './users/users.service.js'
import { pagesRoutes } from './web/pages.routes.js'

export interface BuildOptions {
  /** false silences logs (tests); otherwise JSON lines at config.logLevel. */
  logger?: boolean
  /** Where log lines go instead of stdout (tests that read the log). */
  logStream?: { write(line: string): void }
  /** How slow a client may be; the contract's limits unless a test wants to wait less. */
  slowClients?: SlowClientLimits
}

const SECRET_PARAM = /token|password|secret|api[-_]?key|^key$/i

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll('+', ' '))
  } catch {
    return name
  }
}

/**
 * Query values that are credentials (`?access_token=`, mail links' `?token=`) are cut from
 * logged URLs. Names are compared decoded, as the server's query parser sees them
 * (`?access%5Ftoken=` is `access_token` too). Parameters are split at `;` as well as `&`: the
 * server's parser does not, but proxies and log readers that follow the old HTML advice read
 * `?a=1;access_token=…` as two parameters.
 */
export function redactUrl(url: string): string {
  const mark = url.indexOf('?')
  if (mark < 0) return url
  const query = url.slice(mark + 1).replace(/[^&;]+/g, (pair) => {
    const equals = pair.indexOf('=')
    const name = equals < 0 ? pair : pair.slice(0, equals)
    if (!SECRET_PARAM.test(decodedName(name).trim())) return pair
    // An encoded `=` in the name (`access_token%3D…`) would carry the value along.
    return `${name.replace(/%3d.*/is, '')}=[REDACTED]`
  })
  return `${url.slice(0, mark)}?${query}`
}

/** The one log line per request, after it is answered; no bodies, no credentials. */
function logRequest(log: Logger, request: FastifyRequest, reply: FastifyReply): void {
  const failure = failureOf(request)
  // A 5xx is an error line even when no handler threw (a framework 500, /readyz's 503).
  const level = failure !== undefined || reply.statusCode >= 500 ? 'error' : 'info'
  // Not built at all below its level (LOG_LEVEL=warn keeps only errors).
  if (!log.isLevelEnabled(level)) return
  const line = {
    reqId: request.id,
    method: request.method,
    url: redactUrl(request.url),
    status: reply.statusCode,
    ms: Math.round(reply.elapsedTime * 10) / 10,
    user: request.caller?.principal.id,
    ip: request.ip,
  }
  if (failure !== undefined) log.error({ ...line, err: failure }, 'request')
  else log[level](line, 'request')
}

/**
 * Swagger UI's policy with its `frame-ancestors 'self'` replaced (browsers obey the first of
 * two, so appending would not do) and without `upgrade-insecure-requests`, which would break
 * the page when the service is reached over plain HTTP.
 */
function docsCsp(header: string): string {
  const directives = header
    .split(';')
    .map((directive) => directive.trim())
    .filter(
      (directive) =>
        directive !== '' && !/^(frame-ancestors|upgrade-insecure-requests)\b/i.test(directive),
    )
  return [...directives, "frame-ancestors 'none'"].join('; ')
}

/** Builds a ready, not yet listening, Gatehouse: core first, then every feature. */
export async function buildApp(
  config: Config,
  options: BuildOptions = {},
): Promise<FastifyInstance> {
  const keys = loadSigningKeys(config)
  const database = openDatabase<Database>(config.database)
  await migrateToLatest(database, migrations)
  const db = database.kysely

  const loggers = createLoggers(
    options.logger === false ? 'silent' : config.logLevel,
    options.logStream,
  )
  const slowClients = options.slowClients ?? SLOW_CLIENT_LIMITS
  const app = Fastify({
    loggerInstance: loggers.app,
    // Our own onResponse hook writes the one line per request, with the request id in it;
    // a child logger per request (Fastify's default, for `request.log`) is work for nothing.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger) => logger,
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustedProxies === undefined ? false : [...config.trustedProxies],
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { ignoreTrailingSlash: true },
    // core/http.ts answers requests that arrive while draining.
    return503OnClosing: false,
    // A URL Fastify cannot decode skips every hook: answer and log it here.
    frameworkErrors: (error, request, reply) => {
      frameworkErrors(error, request, reply)
      logRequest(loggers.requests, request, reply)
    },
    // Timeouts of slow clients (API.md §2) and the Host rule; the refusals of requests Node
    // could not read (431, 414, 408, 400) as problem+json.
    ...serverOptions(slowClients),
    clientErrorHandler: (error, socket) => refuseUnreadRequest(error, socket, loggers.requests),
  }).withTypeProvider<TypeBoxTypeProvider>()

  installRequestChecks(app, slowClients)
  app.setValidatorCompiler(validatorCompiler)
  // JSON only, unless a route says otherwise: Fastify's built-in text/plain parser would hand a
  // string to a JSON route (a 400 about types) instead of refusing the media type (415).
  app.removeContentTypeParser('text/plain')
  installJsonBodyParser(app)
  app.decorateRequest('idempotencyKey', null)
  app.setErrorHandler(errorHandler)
  app.addSchema(ProblemSchema)

  app.addHook('onResponse', (request, reply, done) => {
    logRequest(loggers.requests, request, reply)
    done()
  })

  // Services, each with its dependencies spelled out.
  const serverSecret =
    keys.algorithm === 'HS256'
      ? keys.secret
      : Buffer.from(keys.privateKey.export({ format: 'der', type: 'pkcs8' }))
  const cursors = createCursorCodec(serverSecret)
  const users = createUsersRepository(db)
  const sessions = createSessionsRepository(db)
  const audit = createAuditLog(db)
  // Several instances share state through Redis or the database; this process's caches alone
  // cannot be trusted then.
  const redis =
    config.redisUrl === undefined ? undefined : await openRedis(config.redisUrl, app.log)
  // On PostgreSQL other instances may share the database even without Redis.
  const shared = redis !== undefined || config.database.kind === 'postgres'
  const identities = createIdentityCache(users, { shared })
  const revocations = createRevocations(sessions, config.accessTokenTtl, {
    redis,
    checkDatabase: config.database.kind === 'postgres',
  })
  await revocations.load()
  const accessTokens = createAccessTokenIssuer(keys, config.accessTokenTtl)
  const auth = createAuthService({
    users,
    sessions,
    apiKeys: createApiKeysRepository(db),
    audit,
    identities,
    revocations,
    accessTokens,
    // Every password check (login, Basic, current_password) is counted here: API.md §3.
    guard: createCredentialGuard({ enabled: config.rateLimit, redis }),
    accessTokenTtl: config.accessTokenTtl,
    refreshTokenTtl: config.refreshTokenTtl,
    passwordMinLength: config.passwordMinLength,
    shared,
  })
  // SQLite only: it alone tells cheaply when another connection wrote (see TodoPageCache).
  const todoPages =
    database.dataVersion !== undefined && config.todoListCacheMb > 0
      ? new TodoPageCache(database.dataVersion, config.todoListCacheMb * 1024 * 1024)
      : undefined
  const usersService = createUsersService({
    db,
    identities,
    sessions,
    revocations,
    audit,
    cursors,
    onUserDeleted: (id) => todoPages?.changed(id),
    onApiKeysRevoked: (keyHashes) => auth.forgetApiKeys(keyHashes),
  })
  const todos = createTodosService({ db, dialect: database.dialect, cursors, pages: todoPages })
  const idempotency = createIdempotency(
    db,
    (request: FastifyRequest) =>
      request.caller === null ? `ip:${request.ip}` : `user:${request.caller.principal.id}`,
    serverSecret,
  )
  if (config.admin !== undefined) await auth.ensureAdmin(config.admin)

  const mail = createMailDelivery({
    config,
    secret: serverSecret,
    database,
    log: app.log,
    // Every feature's part in delivery; src/mail.thread.ts gives the mail thread the same.
    hooks: campaignMailHooks,
    // Beside this file in the build (dist/); beside the source (tests) there is none.
    thread: new URL('./mail.thread.js', import.meta.url),
  })
  const subscribersService = createSubscribersService({ db, mail, cursors })
  const campaignsService = createCampaignsService({
    db,
    cursors,
    // The queuer (beside delivery) looks for campaigns marked 'queuing'.
    queueCampaign: mail.queued,
  })

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse',
        version: '1.0.0',
        description:
          'A secured REST API: accounts, JWT, Basic and API-key authentication, todos and a double opt-in mailing list. Every error is application/problem+json (RFC 9457).',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'Access token or API key (gh_…); `JWT <token>` works too',
          },
          basic: { type: 'http', scheme: 'basic' },
        },
      },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
  })

  if (config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: [...config.corsOrigins],
      credentials: true,
      exposedHeaders: ['Location', 'ETag', 'Link', 'Retry-After'],
      allowedHeaders: [
        'Authorization',
        'Content-Type',
        'If-Match',
        'If-None-Match',
        'Idempotency-Key',
        'X-CSRF-Token',
      ],
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      maxAge: 600,
    })
  }

  if (config.rateLimit) {
    await app.register(rateLimit, {
      global: true,
      max: 600,
      timeWindow: '1 minute',
      // After authentication, so a signed-in user is counted as themselves.
      hook: 'preHandler',
      keyGenerator: (request) =>
        request.caller === null
          ? `ip:${clientAddressKey(request.ip)}`
          : `user:${request.caller.principal.id}`,
      errorResponseBuilder: (_request, context) =>
        new AppError('RATE_LIMITED', `Rate limit exceeded; retry in ${context.after}`),
      ...(redis === undefined ? {} : { redis, nameSpace: 'gatehouse-rl:' }),
      // Redis unreachable: requests go through unlimited (readiness reports the outage) rather
      // than all failing with 500.
      skipOnError: true,
    })
  }

  await app.register(authPlugin, {
    auth,
    identities,
    revocations,
    accessTokens,
    allowQueryToken: config.allowQueryToken,
    trustedOrigins: [new URL(config.publicUrl).origin, ...config.corsOrigins],
    refusalLimit: config.rateLimit ? app.rateLimit() : undefined,
  })
  // 404s are rate limited too: an attacker could otherwise probe for URLs without limit.
  installHttpBasics(app, { notFoundPreHandler: config.rateLimit ? app.rateLimit() : undefined })

  await app.register(opsRoutes, {
    dependencies: {
      'The database': () => database.ping(),
      ...(redis === undefined ? {} : { Redis: () => pingRedis(redis) }),
    },
    jwks: () => publicJwks(keys),
  })
  await app.register(apiIndexRoutes, { prefix: '/api/v1' })
  await app.register(authRoutes, { prefix: '/api/v1/auth', auth, idempotency })
  await app.register(profileRoutes, {
    prefix: '/api/v1/profile',
    auth,
    users: usersService,
    idempotency,
  })
  await app.register(usersRoutes, { prefix: '/api/v1/users', users: usersService })
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
  await app.register(pagesRoutes, { subscribers: subscribersService })

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: docsCsp,
    uiConfig: { url: '/openapi.json', deepLinking: true },
  })

  const maintenance = setInterval(() => {
    Promise.all([
      auth.pruneExpired(),
      idempotency.purgeExpired(),
      subscribersService.pruneExpired(),
    ]).catch((error: unknown) => app.log.error({ err: error }, 'maintenance failed'))
  }, 10 * 60_000)
  maintenance.unref()

  // Also finishes queuing campaigns a crash (or another instance) left half queued.
  mail.start()
  app.addHook('onClose', async () => {
    clearInterval(maintenance)
    // Before the database closes: queuing stops after its chunk, in-flight mails are recorded,
    // unstarted ones given back.
    await mail.stop()
    await redis?.quit()
    await database.close()
  })
  return app
}
