import type { FastifyBaseLogger } from 'fastify'
import { type DestinationStream, type Logger, pino } from 'pino'

// Secrets never reach a log line, wherever they appear in a logged object.
const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.new_password',
  '*.current_password',
  '*.refresh_token',
  '*.access_token',
  '*.token',
  '*.key',
]

export interface Loggers {
  /** Everything but the request line: wildcard redaction of secret-named fields. */
  app: FastifyBaseLogger
  /**
   * The one line per request. It holds only fields the server picks (the URL's credentials
   * already cut), so it skips the redaction pass, which cost about 7 µs on every request.
   */
  requests: Logger
}

/**
 * Both loggers write to one destination: stdout through sonic-boom, one `write(2)` a line, as
 * pino does by default. An asynchronous destination (`sync: false`) hands every write to a libuv
 * thread and takes a completion callback back; on the core the event loop runs on, that cost
 * more than the write itself (the bench baseline's `GET /public`: 17.2 µs of CPU a request
 * against 18.2–20.0 µs; BENCHMARKS.md, session 8). A
 * line is in the kernel's hands before the request's next step, so a crash loses no log line.
 */
export function createLoggers(level: string, stream?: DestinationStream): Loggers {
  const destination = stream ?? pino.destination({ dest: 1, sync: true })
  return {
    app: pino({ level, redact: { paths: REDACT, censor: '[REDACTED]' } }, destination),
    requests: pino({ level }, destination),
  }
}
