import type { AddressInfo } from 'node:net'
import { type ParsedMail, simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  /** Envelope recipients (RCPT TO). */
  readonly to: readonly string[]
  readonly parsed: ParsedMail
  readonly raw: string
}

export interface TestSmtpServer {
  readonly url: string
  readonly port: number
  readonly mails: ReceivedMail[]
  /** The next `count` messages are answered with `code` (e.g. 451 or 550) after DATA. */
  failNext(count: number, code: number): void
  /** Each message is held this long before it is answered (a slow server). */
  setDelay(ms: number): void
  /** Resolves once at least `count` mails have arrived (or rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMail[]>
  /** Messages answered with an error so far. */
  readonly refused: number
  close(): Promise<void>
}

/** A real SMTP server on 127.0.0.1 (no TLS, any auth) that keeps every mail it accepts, parsed. */
export async function startSmtpServer(): Promise<TestSmtpServer> {
  const mails: ReceivedMail[] = []
  let failures: { count: number; code: number } = { count: 0, code: 0 }
  let delay = 0
  let refused = 0
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    size: 1024 * 1024,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk))
      stream.on('end', () => {
        const answer = async () => {
          if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay))
          if (failures.count > 0) {
            failures = { count: failures.count - 1, code: failures.code }
            refused += 1
            const error = new Error(
              failures.code >= 500 ? 'Mailbox unavailable' : 'Try again later',
            )
            ;(error as Error & { responseCode: number }).responseCode = failures.code
            callback(error)
            return
          }
          const raw = Buffer.concat(chunks)
          const parsed = await simpleParser(raw)
          mails.push({
            to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
            parsed,
            raw: raw.toString('utf8'),
          })
          callback()
        }
        answer().catch((error: unknown) => callback(error as Error))
      })
    },
  })
  // A client that dies mid-session (the crash test kills the server) resets its connection.
  server.on('error', () => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.server.address() as AddressInfo).port
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    mails,
    failNext(count, code) {
      failures = { count, code }
    },
    setDelay(ms) {
      delay = ms
    },
    get refused() {
      return refused
    },
    async waitFor(count, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      while (mails.length < count) {
        if (Date.now() > deadline) {
          throw new Error(`expected ${count} mails, got ${mails.length}`)
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      return mails
    },
    close() {
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The first URL in a mail's text that starts with `prefix`. */
export function linkIn(mail: ReceivedMail, prefix: string): string {
  const text = mail.parsed.text ?? ''
  const start = text.indexOf(prefix)
  if (start < 0) throw new Error(`no ${prefix} link in: ${text}`)
  return text.slice(start).split(/\s/)[0] ?? ''
}

/** Polls `check` until it returns a value, for state the outbox worker changes in the background. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

/** A header as sent, unfolded (`List-Unsubscribe`, `Message-ID`, …); '' when absent. */
export function headerOf(mail: ReceivedMail, name: string): string {
  const line = mail.parsed.headerLines.find((header) => header.key === name.toLowerCase())?.line
  if (line === undefined) return ''
  return line
    .slice(line.indexOf(':') + 1)
    .replace(/\r?\n[ \t]+/g, ' ')
    .trim()
}

/** The URL in a mail's `List-Unsubscribe: <…>` header. */
export function listUnsubscribeUrl(mail: ReceivedMail): URL {
  return new URL(headerOf(mail, 'List-Unsubscribe').replace(/^<|>$/g, ''))
}
