import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController } from 'fastify'
import type { Config } from './config.js'
import { errorHandler } from './errors.js'
import {
  frameworkErrors,
  installRequestChecks,
  refuseUnreadRequest,
  serverOptions,
} from './http.js'
import { installJsonBodyParser } from './json-body.js'
import type { Loggers } from './logger.js'
import { installRequestLog, logRequest } from './request-log.js'
import { ProblemSchema } from './schemas.js'
import type { SlowClientLimits } from './slow-clients.js'
import { validatorCompiler } from './validation.js'

/**
 * The HTTP core every feature sits on: Fastify with the server's own limits and refusals, JSON
 * bodies only, one validator and error handler, and one log line per request.
 */
export function createServer(config: Config, loggers: Loggers, slowClients: SlowClientLimits) {
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
    // An id is opaque (API.md §2): an unknown long one is a 404, not a 414 (find-my-way's
    // default limit is 100 characters); the URI as a whole stays limited by the server.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2048 },
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
  installRequestLog(app, loggers.requests)
  return app
}

/** Work that keeps tables small (expired sessions, keys, tokens), every ten minutes. */
export function scheduleMaintenance(
  app: ReturnType<typeof createServer>,
  tasks: readonly (() => Promise<unknown>)[],
): void {
  const timer = setInterval(() => {
    Promise.all(tasks.map((task) => task())).catch((error: unknown) =>
      app.log.error({ err: error }, 'maintenance failed'),
    )
  }, 10 * 60_000)
  timer.unref()
  app.addHook('onClose', async () => clearInterval(timer))
}
