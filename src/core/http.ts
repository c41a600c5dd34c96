import { type ServerOptions, STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type {
  ConnectionError,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  onResponseHookHandler,
  preHandlerAsyncHookHandler,
} from 'fastify'
import FindMyWay, { type HTTPMethod } from 'find-my-way'
import type { Logger } from 'pino'
import {
  AppError,
  badRequest,
  bodyStillArriving,
  headersTooLarge,
  notFound,
  problemJson,
  requestTimeout,
  sendProblem,
  toAppError,
  uriTooLong,
} from './errors.js'
import {
  type BodyWatch,
  createBodyWatch,
  type SlowClientLimits,
  serverTimeouts,
} from './slow-clients.js'

const METHODS: HTTPMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

/** Methods whose body Fastify never reads: their routes need no body watch. */
const BODYLESS = new Set(['GET', 'HEAD', 'TRACE'])

/**
 * `same-origin`, not `no-referrer`: no other site learns where a link came from either way, but
 * under `no-referrer` a browser sends `Origin: null` with a same-origin form POST (Fetch,
 * "append a request Origin header"), and the cross-site check then refuses our own login form.
 */
const BASIC_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'same-origin' }

/** Fastify's server options for the HTTP rules here: timeouts of slow clients, the Host header. */
export function serverOptions(limits: SlowClientLimits): ReturnType<typeof serverTimeouts> {
  const timeouts = serverTimeouts(limits)
  const http: ServerOptions = {
    ...timeouts.http,
    // Node's own 400 for a missing Host has no body; the onRequest hook answers it instead.
    requireHostHeader: false,
    // Two Host fields then read `a, b` (Node would keep the first), which the hook refuses.
    joinDuplicateHeaders: true,
  }
  return { ...timeouts, http }
}

/**
 * Fastify's `frameworkErrors`: a URL it cannot decode (400) or a path segment over its limit
 * (414) is answered before any hook runs; render it like every other error, with the headers
 * every response carries.
 */
export function frameworkErrors(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  reply.headers(BASIC_HEADERS)
  if (bodyStillArriving(request.raw)) reply.header('connection', 'close')
  sendProblem(reply, toAppError(error))
}

const bodyWatches = new WeakMap<FastifyInstance, BodyWatch>()

/**
 * Headers every response carries, set first thing so that even answers given in an early hook
 * (a CORS preflight) have them; the drain-time 503; the Host rule (RFC 9112 §3.2); and the
 * watch on slow request bodies, which `installHttpBasics` extends to the 404 handler. Call it
 * before any route is added.
 */
export function installRequestChecks(app: FastifyInstance, limits: SlowClientLimits): void {
  // While draining (after SIGTERM), a request arriving on a kept-alive connection is refused
  // like any other error: problem+json, the basic headers, one log line. Fastify's own
  // return503OnClosing answers plain JSON and skips every hook.
  let draining = false
  app.addHook('preClose', async () => {
    draining = true
  })
  const bodies = createBodyWatch(limits)
  bodyWatches.set(app, bodies)
  app.addHook('onClose', async () => bodies.stop())
  // Before any route is added (CORS adds one), so every route that reads a body has it.
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (methods.every((method) => BODYLESS.has(method))) return
    const hooks = route.preParsing
    route.preParsing =
      hooks === undefined
        ? [bodies.preParsing]
        : [...(Array.isArray(hooks) ? hooks : [hooks]), bodies.preParsing]
  })
  // Callback style, not async: it runs on every request, and a promise per hook shows in W1.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(BASIC_HEADERS)
    if (draining) {
      return done(
        new AppError(
          'SERVICE_UNAVAILABLE',
          'The server is shutting down; retry on a new connection',
          { headers: { connection: 'close', 'retry-after': '1' } },
        ),
      )
    }
    const headers = request.headers
    // One Host, and one at all in HTTP/1.1 (RFC 9112 §3.2). A second field was joined to the
    // first with a comma (`joinDuplicateHeaders`), and no host name has one.
    const host = headers.host
    if (host === undefined ? request.raw.httpVersion === '1.1' : host.includes(',')) {
      return done(badRequest('The request must have exactly one Host header'))
    }
    // Two lookups are all a request without a body pays.
    const length = headers['content-length']
    if ((length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined) {
      bodies.watch(request, reply)
    }
    done()
  })
}

const LINGER_MS = 2000

/**
 * Fastify's `clientErrorHandler`: the answer to a request Node could not read (headers too
 * large, a malformed request, headers not complete in time). Problem+json with the basic
 * headers and `Connection: close`; then the connection is closed in stages (RFC 9112 §9.6).
 */
export function refuseUnreadRequest(error: ConnectionError, socket: Socket, log: Logger): void {
  // Node reports every later chunk of a connection whose parser failed: answer once.
  if (refused.has(socket)) return
  refused.add(socket)
  if (error.code === 'ECONNRESET' || socket.destroyed) {
    socket.destroy()
    return
  }
  const problem = unreadProblem(error)
  // An answer already under way on this socket cannot be followed by another.
  if (!socket.writable || responseStarted(socket)) {
    socket.destroy()
    return
  }
  log.info({ status: problem.status, code: problem.code, ip: socket.remoteAddress }, 'refused')
  const body = problemJson(problem)
  socket.end(
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? problem.title}\r\n` +
      `Date: ${new Date().toUTCString()}\r\n` +
      'Content-Type: application/problem+json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'X-Content-Type-Options: nosniff\r\nReferrer-Policy: same-origin\r\n' +
      `Connection: close\r\n\r\n${body}`,
  )
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    // Its parser still works: a request it completed now would be run, and answered after
    // this one. Closed as soon as the answer is out.
    socket.destroySoon()
    return
  }
  // The client may still be sending (the rest of an oversized header): read and drop it until
  // it closes its side, so that the close is not a reset that loses the answer.
  const linger = setTimeout(() => socket.destroy(), LINGER_MS)
  linger.unref()
  socket.once('end', () => socket.destroy())
  socket.once('close', () => clearTimeout(linger))
}

const refused = new WeakSet<Socket>()

function unreadProblem(error: ConnectionError): AppError {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return requestTimeout('The request headers did not arrive in time')
    case 'HPE_HEADER_OVERFLOW':
      return overflowInRequestLine(error) ? uriTooLong() : headersTooLarge()
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new AppError('PAYLOAD_TOO_LARGE', 'The chunk extensions are too large')
    default:
      return badRequest('The request is not valid HTTP')
  }
}

/**
 * Node counts the request line into its header limit. The overflow was in the request line
 * (a URI too long) when the line it stopped in starts `METHOD SP`: a header field line has a
 * colon right after its name. A request line begun in an earlier packet cannot be told from a
 * header value, and is answered 431.
 */
function overflowInRequestLine(error: ConnectionError): boolean {
  const packet: unknown = error.rawPacket
  if (!Buffer.isBuffer(packet)) return false
  const parsed = packet.subarray(0, error.bytesParsed)
  const start = parsed.lastIndexOf(0x0a) + 1
  const line = parsed.subarray(start, start + 32)
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^ ]/.test(line.toString('latin1'))
}

/** Whether a response has begun on the socket (Node's own check before it answers an error). */
function responseStarted(socket: Socket): boolean {
  const current = (socket as Socket & { _httpMessage?: { headersSent: boolean } | null })
    ._httpMessage
  return current?.headersSent === true
}

/**
 * A problem+json 404, and 405 with `Allow` for a known path asked with a method it does not
 * have (Fastify itself would answer 404).
 */
export function installHttpBasics(
  app: FastifyInstance,
  options: {
    notFoundPreHandler?: preHandlerAsyncHookHandler | undefined
    /** Runs when the 404 handler has answered (the metrics count unmatched requests). */
    notFoundOnResponse?: onResponseHookHandler | undefined
  },
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

  // In a scope of its own, so that it gets the body watch's preParsing hook (a 404 reads its
  // body too) without every route paying for that hook.
  const bodies = bodyWatches.get(app)
  void app.register(async (scope) => {
    if (bodies !== undefined) scope.addHook('preParsing', bodies.preParsing)
    if (options.notFoundOnResponse !== undefined)
      scope.addHook('onResponse', options.notFoundOnResponse)
    scope.setNotFoundHandler({ preHandler: options.notFoundPreHandler }, async (request) => {
      const path = request.url.split('?')[0] ?? '/'
      const allowed = METHODS.filter((method) => knownPaths.find(method, path) !== null)
      // A route that has this method and still found nothing (a wildcard route's missing
      // file, `/docs/static/<missing>`) is a 404, not a 405.
      if (allowed.length > 0 && !allowed.includes(request.method as HTTPMethod)) {
        throw new AppError('METHOD_NOT_ALLOWED', `${request.method} is not allowed here`, {
          headers: { allow: allowed.join(', ') },
        })
      }
      throw notFound(`No route for ${request.method} ${path}`)
    })
  })
}
