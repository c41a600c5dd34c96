import type { FastifyBaseLogger } from 'fastify'
import { type DestinationStream, pino } from 'pino'

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
  requests: FastifyBaseLogger
}

/**
 * Both loggers write to one destination: stdout through sonic-boom in asynchronous mode, so a
 * request never waits for a `write(2)`, and lines logged while a write is in flight go out
 * together in the next one. pino flushes what is pending when the process exits; a SIGKILL
 * can lose the lines of the last moment, never a line of data.
 */
export function createLoggers(level: string, stream?: DestinationStream): Loggers {
  const destination = stream ?? pino.destination({ dest: 1, sync: false })
  return {
    app: pino({ level, redact: { paths: REDACT, censor: '[REDACTED]' } }, destination),
    requests: pino({ level }, destination),
  }
}
