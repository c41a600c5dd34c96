import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  preHandlerAsyncHookHandler,
} from 'fastify'
import FindMyWay, { type HTTPMethod } from 'find-my-way'
import { AppError, notFound, sendProblem, toAppError } from './errors.js'

const METHODS: HTTPMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

const BASIC_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' }

/**
 * Fastify's `frameworkErrors`: a URL it cannot decode (400) is answered before any hook runs;
 * render it like every other error, with the headers every response carries.
 */
export function frameworkErrors(error: FastifyError, _request: unknown, reply: FastifyReply): void {
  reply.headers(BASIC_HEADERS)
  sendProblem(reply, toAppError(error))
}

/**
 * Headers every response carries, set first thing so that even answers given in an early hook
 * (a CORS preflight) have them; and the drain-time 503.
 */
export function installBasicHeaders(app: FastifyInstance): void {
  // While draining (after SIGTERM), a request arriving on a kept-alive connection is refused
  // like any other error: problem+json, the basic headers, one log line. Fastify's own
  // return503OnClosing answers plain JSON and skips every hook.
  let draining = false
  app.addHook('preClose', async () => {
    draining = true
  })
  // Callback style, not async: it runs on every request, and a promise per hook shows in W1.
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(BASIC_HEADERS)
    if (!draining) return done()
    done(
      new AppError(
        503,
        'SERVICE_UNAVAILABLE',
        'Service unavailable',
        'The server is shutting down; retry on a new connection',
        { headers: { connection: 'close', 'retry-after': '1' } },
      ),
    )
  })
}

/**
 * A problem+json 404, and 405 with `Allow` for a known path
 * asked with a method it does not have (Fastify itself would answer 404).
 */
export function installHttpBasics(
  app: FastifyInstance,
  options: { notFoundPreHandler?: preHandlerAsyncHookHandler | undefined },
): void {
  const knownPaths = FindMyWay({ ignoreTrailingSlash: true })
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    for (const method of methods) {
      if (!METHODS.includes(method as HTTPMethod)) continue
      try {
        knownPaths.on(method as HTTPMethod, route.url, () => {})
      } catch {
        // Already known: HEAD is added beside GET, and prefixed plugins can repeat a path.
      }
    }
  })

  app.setNotFoundHandler({ preHandler: options.notFoundPreHandler }, async (request) => {
    const path = request.url.split('?')[0] ?? '/'
    const allowed = METHODS.filter((method) => knownPaths.find(method, path) !== null)
    // A route that has this method and still found nothing (a wildcard route's missing file,
    // `/docs/static/<missing>`) is a 404, not a 405.
    if (allowed.length > 0 && !allowed.includes(request.method as HTTPMethod)) {
      throw new AppError(
        405,
        'METHOD_NOT_ALLOWED',
        'Method not allowed',
        `${request.method} is not allowed here`,
        {
          headers: { allow: allowed.join(', ') },
        },
      )
    }
    throw notFound(`No route for ${request.method} ${path}`)
  })
}
