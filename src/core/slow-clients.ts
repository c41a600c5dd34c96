import type { IncomingMessage, ServerOptions } from 'node:http'
import { Socket } from 'node:net'
import { type Readable, Transform, type TransformCallback } from 'node:stream'
import type { FastifyReply, FastifyRequest, preParsingHookHandler } from 'fastify'
import { requestTimeout } from './errors.js'

/** How slowly a client may send a request before it is refused with 408 (API.md §2). */
export interface SlowClientLimits {
  /** The header section must be complete this long after the request starts, ms. */
  readonly headersMs: number
  /** A body is judged once it has been arriving this long, ms… */
  readonly bodyGraceMs: number
  /** …and refused if by then it has averaged fewer bytes a second than this. */
  readonly minBodyBytesPerSecond: number
}

/** The contract's limits; tests pass smaller ones through `BuildOptions`. */
export const SLOW_CLIENT_LIMITS: SlowClientLimits = Object.freeze({
  headersMs: 30_000,
  bodyGraceMs: 30_000,
  minBodyBytesPerSecond: 1024,
})

/** Node's server timeouts for these limits, as Fastify's server options. */
export function serverTimeouts(limits: SlowClientLimits): {
  http: ServerOptions
  requestTimeout: number
  keepAliveTimeout: number
  connectionTimeout: number
} {
  return {
    http: {
      headersTimeout: limits.headersMs,
      // How often Node looks for expired requests: its default (30 s) would let a 30 s limit
      // act at up to 60 s.
      connectionsCheckingInterval: Math.min(1000, Math.ceil(limits.headersMs / 4)),
    },
    // No cap on a whole request: the body rule below is the contract's, and a streamed import
    // that keeps a good rate may take longer than any fixed cap.
    requestTimeout: 0,
    // Longer than the 60 s idle timeout of common load balancers, so that they, not we, close
    // an idle connection (closing one they are about to reuse makes a 502).
    keepAliveTimeout: 72_000,
    // Not a byte either way for 2 minutes in the middle of a request (a client that stopped
    // reading its answer, a peer gone without a FIN): the socket is dropped.
    connectionTimeout: 120_000,
  }
}

/** A request body passed through unchanged, counted; it can fail without closing the socket. */
class CountedBody extends Transform {
  bytes = 0

  constructor(private readonly source: Readable) {
    super()
    source.pipe(this)
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    callback(null, chunk)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // The rest is read and dropped until the connection closes: left unread, it could turn the
    // close into a reset that loses the answer on its way to the client.
    this.source.unpipe(this)
    this.source.resume()
    callback(error)
  }
}

interface Watch {
  readonly request: FastifyRequest
  readonly reply: FastifyReply
  readonly socket: Socket
  readonly start: number
  readonly bytesAtStart: number
  body: CountedBody | undefined
}

export interface BodyWatch {
  /** From an onRequest hook, for a request that declares a body. */
  watch(request: FastifyRequest, reply: FastifyReply): void
  /** A preParsing hook for routes that read a body: the body they read can be failed with 408. */
  readonly preParsing: preParsingHookHandler
  stop(): void
}

/**
 * Refuses a request body that has averaged under `minBodyBytesPerSecond` once `bodyGraceMs`
 * have passed (API.md §2), whether or not anything reads it. One timer sweeps every watched
 * request, and only while there are some; a request without a body is never watched.
 */
export function createBodyWatch(limits: SlowClientLimits): BodyWatch {
  const watches = new Set<Watch>()
  const byRequest = new WeakMap<IncomingMessage, Watch>()
  const tickMs = Math.min(1000, Math.ceil(limits.bodyGraceMs / 4))
  let timer: NodeJS.Timeout | undefined

  function sweep(): void {
    const now = Date.now()
    for (const watch of watches) {
      if (watch.request.raw.complete || watch.socket.destroyed) {
        watches.delete(watch)
        continue
      }
      const elapsed = now - watch.start
      if (elapsed < limits.bodyGraceMs) continue
      // Counted where it is read when something reads it; else as it reaches the socket.
      const bytes = watch.body?.bytes ?? watch.socket.bytesRead - watch.bytesAtStart
      if (bytes * 1000 >= limits.minBodyBytesPerSecond * elapsed) continue
      watches.delete(watch)
      refuse(watch, Math.floor((bytes * 1000) / elapsed))
    }
    if (watches.size === 0) {
      clearInterval(timer)
      timer = undefined
    }
  }

  function refuse(watch: Watch, rate: number): void {
    const { reply, body } = watch
    if (reply.raw.headersSent) {
      // Already answered; the rest of the body is not wanted, and there is nothing more to say.
      watch.socket.destroy()
      return
    }
    const error = requestTimeout(
      `The request body arrived at ${rate} bytes a second; at least ${limits.minBodyBytesPerSecond} are needed`,
    )
    // Its reader (Fastify's body parser, a streaming route) fails and answers 408.
    if (body !== undefined && body.listenerCount('error') > 0) body.destroy(error)
    else reply.send(error)
  }

  return {
    watch(request, reply) {
      const socket = request.raw.socket
      // Requests made by `inject` have no socket to watch.
      if (!(socket instanceof Socket)) return
      const watch: Watch = {
        request,
        reply,
        socket,
        start: Date.now(),
        bytesAtStart: socket.bytesRead,
        body: undefined,
      }
      watches.add(watch)
      byRequest.set(request.raw, watch)
      if (timer === undefined) {
        timer = setInterval(sweep, tickMs)
        timer.unref()
      }
    },
    preParsing(request, _reply, payload, done) {
      const watch = byRequest.get(request.raw)
      // Most bodies arrive with their headers and are complete by now: nothing to wrap.
      if (watch === undefined || request.raw.complete) return done(null, payload)
      watch.body = new CountedBody(payload)
      done(null, watch.body)
    },
    stop() {
      clearInterval(timer)
      timer = undefined
      watches.clear()
    },
  }
}
