import { connect, type Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import nodemailer, { type Transporter } from 'nodemailer'

export interface OutgoingMail {
  readonly to: { readonly name: string; readonly address: string }
  readonly subject: string
  readonly text: string
  /** `<id@host>`, fixed when the mail was queued. */
  readonly messageId: string
  readonly headers?: Readonly<Record<string, string>>
}

/** `transient`: try again later (4xx, network); `permanent`: the server refused it (5xx). */
export type DeliveryResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly permanent: boolean; readonly error: string }

export interface Mailer {
  send(mail: OutgoingMail): Promise<DeliveryResult>
  close(): void
}

/** SMTP reply codes: 5xx is a final refusal; 4xx, and anything without a code, may pass later. */
export function classifySmtpError(error: unknown): { permanent: boolean; error: string } {
  const code =
    typeof error === 'object' && error !== null
      ? (error as { responseCode?: unknown }).responseCode
      : undefined
  const message = error instanceof Error ? error.message : String(error)
  return {
    permanent: typeof code === 'number' && code >= 500 && code < 600,
    error: message.slice(0, 500),
  }
}

/**
 * Host, port, TLS and credentials from `SMTP_URL`. Passed as options rather than as nodemailer's
 * `url`: with `url`, the pool opened a new connection for every message.
 */
function smtpTarget(smtpUrl: string) {
  const url = new URL(smtpUrl)
  const secure = url.protocol === 'smtps:'
  const user = decodeURIComponent(url.username)
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? (secure ? 465 : 587) : Number(url.port),
    secure,
    ...(user === '' ? {} : { auth: { user, pass: decodeURIComponent(url.password) } }),
  }
}

/**
 * nodemailer writes a message's body and its final `.` separately; with Nagle's algorithm the
 * `.` then waits for the server's delayed ACK (about 40 ms a mail). TCP_NODELAY removes that.
 */
function noDelaySocket(
  options: { host?: string | undefined; port?: number | undefined; secure?: boolean | undefined },
  callback: (error: Error | null, socketOptions?: { connection: Socket }) => void,
): void {
  const socket = connect({
    host: options.host ?? 'localhost',
    port: options.port ?? (options.secure === true ? 465 : 587),
    noDelay: true,
  })
  const timer = setTimeout(() => socket.destroy(new Error('SMTP connection timed out')), 10_000)
  socket.once('connect', () => {
    clearTimeout(timer)
    socket.removeAllListeners('error')
    callback(null, { connection: socket })
  })
  socket.once('error', (error) => {
    clearTimeout(timer)
    callback(error)
  })
}

/**
 * nodemailer over `SMTP_URL` with pooled connections; without it, each mail goes to the log
 * so a developer can follow the links (that is the point of the log transport, so the text
 * is logged as is).
 */
export function createMailer(options: {
  smtpUrl: string | undefined
  from: string
  log: Pick<FastifyBaseLogger, 'info'>
  maxConnections: number
}): Mailer {
  const transport: Transporter =
    options.smtpUrl === undefined
      ? nodemailer.createTransport({ jsonTransport: true })
      : nodemailer.createTransport({
          ...smtpTarget(options.smtpUrl),
          pool: true,
          maxConnections: options.maxConnections,
          maxMessages: Number.POSITIVE_INFINITY,
          // Short timeouts: a stuck server must not hold a row past its lease.
          connectionTimeout: 10_000,
          greetingTimeout: 10_000,
          socketTimeout: 30_000,
          getSocket: noDelaySocket,
        })
  const toLog = options.smtpUrl === undefined

  return {
    async send(mail) {
      try {
        await transport.sendMail({
          from: options.from,
          to: { name: mail.to.name, address: mail.to.address },
          subject: mail.subject,
          text: mail.text,
          messageId: mail.messageId,
          headers: mail.headers === undefined ? {} : { ...mail.headers },
          disableFileAccess: true,
          disableUrlAccess: true,
        })
        if (toLog) {
          options.log.info(
            {
              mail: {
                to: `${mail.to.name} <${mail.to.address}>`,
                subject: mail.subject,
                messageId: mail.messageId,
                headers: mail.headers,
                body: mail.text,
              },
            },
            'mail (SMTP_URL unset, not delivered)',
          )
        }
        return { ok: true }
      } catch (error) {
        return { ok: false, ...classifySmtpError(error) }
      }
    },
    close() {
      transport.close()
    },
  }
}
