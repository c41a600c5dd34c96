import { parentPort, workerData } from 'node:worker_threads'
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { Config } from '../core/config.js'
import { type Db, openDatabase } from '../core/db.js'
import type { Database } from '../database.js'
import {
  type MailThreadData,
  type MailThreadLevel,
  type MailThreadMessage,
  mailThreadAvailable,
  startMailThread,
} from './mail.thread.js'
import {
  createMailLinks,
  createMailTokens,
  type MailLinks,
  type MailTokens,
} from './mail.tokens.js'
import { createMailer } from './mailer.js'
import { createOutboxRepository } from './outbox.repository.js'
import {
  createOutboxWorker,
  type DeliveryHooks,
  type OutboxWorker,
  type WorkerLog,
} from './outbox.worker.js'

export type MailLog = Pick<FastifyBaseLogger, MailThreadLevel>

/** What a feature's hooks are built from, on whichever thread delivers. */
export interface MailContext {
  readonly config: Config
  readonly db: Kysely<Database>
  readonly messageIdHost: string
  readonly tokens: MailTokens
  readonly links: MailLinks
  readonly log: WorkerLog
  /** Wakes delivery up: mail was queued. */
  kick(): void
}

/** Work beside delivery (a campaign's queuing): started, woken and stopped with it. */
export interface MailJob {
  start(): void
  kick(): void
  stop(): Promise<void>
}

export interface MailHooks extends DeliveryHooks {
  readonly jobs?: readonly MailJob[]
}

/** Built once on the thread that delivers: hooks hold functions, which no thread can be sent. */
export type MailHooksFactory = (context: MailContext) => MailHooks

/** What features that queue mail see of delivery. */
export interface MailQueue {
  readonly tokens: MailTokens
  readonly links: MailLinks
  /** A one-off mail, rendered now, written with `db`: the transaction of its cause. */
  enqueue(
    db: Kysely<Database>,
    mail: { name: string; email: string; subject: string; text: string },
    now: string,
  ): Promise<void>
  /** After the commit that queued mail: delivery looks now instead of at its next poll. */
  queued(): void
}

export interface MailDelivery extends MailQueue {
  /** Also finishes work (a campaign's queuing) a crash or another instance left half done. */
  start(): void
  /** Queuing stops after its chunk, mails in flight are recorded, unstarted ones given back. */
  stop(): Promise<void>
}

/**
 * Every mail is an outbox row written with the change that causes it; this delivers them,
 * on the main thread or, in the built server with SMTP_URL set, on a thread of its own
 * (`thread`, the entry that calls runMailThread) so that sending a campaign does not hold up
 * API requests. From the TypeScript source (tests) and without SMTP_URL (mails go to the log)
 * delivery stays on the main thread.
 */
export function createMailDelivery(options: {
  config: Config
  /** The server secret: unsubscribe tokens are derived from it. */
  secret: Uint8Array
  database: Db<Database>
  log: MailLog
  hooks: MailHooksFactory
  /** The mail thread's entry; absent on the mail thread itself. */
  thread?: URL
}): MailDelivery {
  const { config, database, log, thread } = options
  // Message-IDs and links use PUBLIC_URL, never a request's Host.
  const messageIdHost = new URL(config.publicUrl).hostname || 'gatehouse'
  const tokens = createMailTokens(options.secret)
  const links = createMailLinks(config.publicUrl)

  function deliverHere(): OutboxWorker {
    const db = database.kysely
    // Twice as many mails in flight as connections: while a connection's mail is recorded, the
    // next one is already rendered.
    const connections = Math.ceil(config.mailConcurrency / 2)
    const hooks = options.hooks({
      config,
      db,
      messageIdHost,
      tokens,
      links,
      log,
      kick: () => worker.kick(),
    })
    const worker = createOutboxWorker({
      outbox: createOutboxRepository(db, { messageIdHost, dialect: database.dialect }),
      mailer: createMailer({
        smtpUrl: config.smtpUrl,
        from: config.mailFrom,
        log,
        maxConnections: connections,
      }),
      hooks,
      log,
      concurrency: config.mailConcurrency,
      connections,
      leaseMs: config.outboxLeaseSeconds * 1000,
      retryBaseMs: config.mailRetryBaseMs,
      maxAttempts: config.mailMaxAttempts,
    })
    const jobs = hooks.jobs ?? []
    return {
      start() {
        worker.start()
        for (const job of jobs) job.start()
      },
      kick() {
        worker.kick()
        for (const job of jobs) job.kick()
      },
      async stop() {
        // Jobs first: a campaign's queuing wakes the worker after each chunk.
        await Promise.all(jobs.map((job) => job.stop()))
        await worker.stop()
      },
    }
  }

  function deliverOnThread(entry: URL): OutboxWorker {
    const shared = config.database
    // A few connections are plenty for claims, results and queuing chunks.
    const threadDatabase =
      shared.kind === 'postgres' ? { ...shared, poolSize: Math.min(shared.poolSize, 3) } : shared
    return startMailThread(
      entry,
      { config: { ...config, database: threadDatabase }, secret: options.secret },
      log,
    )
  }

  const onThread =
    thread !== undefined &&
    config.smtpUrl !== undefined &&
    mailThreadAvailable(config.database, thread)
  // Only the main thread names a thread entry, and says where delivery runs.
  if (thread !== undefined) {
    log.info(
      { mailThread: onThread },
      `mail delivery on ${onThread ? 'a worker thread' : 'the main thread'}`,
    )
  }
  const delivery = onThread ? deliverOnThread(thread) : deliverHere()

  return {
    tokens,
    links,
    enqueue: (db, mail, now) =>
      createOutboxRepository(db, { messageIdHost, dialect: database.dialect }).enqueueMail(
        mail,
        now,
      ),
    queued: () => delivery.kick(),
    start: () => delivery.start(),
    stop: () => delivery.stop(),
  }
}

/**
 * The mail thread's body (see startMailThread): its own database connection, its own
 * nodemailer pool, its own small heap, and the same delivery as the main thread would build.
 * Feature jobs (a campaign's queuing), claiming, rendering, SMTP and recording results all
 * happen here, none of it on the event loop that answers requests.
 */
export function runMailThread(hooks: MailHooksFactory): void {
  const port = parentPort
  if (port === null) throw new Error('the mail thread runs as a worker thread')
  const data = workerData as MailThreadData

  function post(message: MailThreadMessage): void {
    try {
      port?.postMessage(message)
    } catch {
      // Something in a logged object that cannot be copied: send the line without it.
      if (message.type === 'log') port?.postMessage({ ...message, obj: {} })
    }
  }
  const line =
    (level: MailThreadLevel) =>
    (obj: unknown, msg?: string): void =>
      post({ type: 'log', level, obj, msg })
  const log: MailLog = { info: line('info'), warn: line('warn'), error: line('error') }

  const database = openDatabase<Database>(data.config.database)
  const delivery = createMailDelivery({ ...data, database, log, hooks })
  delivery.start()

  port.on('message', (message: 'kick' | 'stop') => {
    if (message === 'kick') {
      delivery.queued()
      return
    }
    void (async () => {
      await delivery.stop()
      await database.close()
      post({ type: 'stopped' })
      port.close()
    })()
  })
}
