import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { failureOf } from './errors.js'

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

/**
 * The one log line per request, after it is answered; no bodies, no credentials. Also called
 * from Fastify's `frameworkErrors` option: a URL Fastify cannot decode skips every hook.
 */
export function logRequest(log: Logger, request: FastifyRequest, reply: FastifyReply): void {
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
 * Writes the request line once each request is answered. Fastify's own request logging is off
 * (`disableRequestLogging`): this line carries the request id itself.
 */
export function installRequestLog(app: FastifyInstance, log: Logger): void {
  app.addHook('onResponse', (request, reply, done) => {
    logRequest(log, request, reply)
    done()
  })
}
