import { parentPort, workerData } from 'node:worker_threads'
import { openDatabase } from '../core/db.js'
import { createMailer } from '../core/mail.js'
import type { Database } from '../database.js'
import { createMailLinks, createMailTokens } from '../subscribers/subscribers.tokens.js'
import { createCampaignQueuer, withCampaignQueuer } from './campaigns.queuer.js'
import { createOutboxRepository } from './outbox.repository.js'
import {
  createOutboxWorker,
  type OutboxThreadData,
  type OutboxThreadMessage,
  type WorkerLog,
} from './outbox.worker.js'

/**
 * The outbox worker on a thread of its own (see createThreadOutboxWorker): its own database
 * connection, its own nodemailer pool, its own small heap. Queuing campaigns, claiming,
 * rendering, SMTP and recording results all happen here, none of it on the event loop that
 * answers requests.
 */
const port = parentPort
if (port === null) throw new Error('outbox.thread.js runs as a worker thread')
const data = workerData as OutboxThreadData

function post(message: OutboxThreadMessage): void {
  try {
    port?.postMessage(message)
  } catch {
    // Something in a logged object that cannot be copied: send the line without it.
    if (message.type === 'log') port?.postMessage({ ...message, obj: {} })
  }
}
const log: WorkerLog = {
  error: (obj: unknown, msg?: string) => post({ type: 'log', level: 'error', obj, msg }),
  warn: (obj: unknown, msg?: string) => post({ type: 'log', level: 'warn', obj, msg }),
}

const database = openDatabase<Database>(data.database)
const outboxWorker = createOutboxWorker({
  ...data.options,
  outbox: createOutboxRepository(database.kysely, {
    messageIdHost: data.messageIdHost,
    dialect: database.dialect,
  }),
  mailer: createMailer({
    smtpUrl: data.smtpUrl,
    from: data.mailFrom,
    maxConnections: data.maxConnections,
    log: { info: () => undefined },
  }),
  tokens: createMailTokens(Buffer.from(data.tokenSecret)),
  links: createMailLinks(data.publicUrl),
  log,
})
const worker = withCampaignQueuer(
  outboxWorker,
  createCampaignQueuer({
    db: database.kysely,
    dialect: database.dialect,
    messageIdHost: data.messageIdHost,
    chunk: data.queueChunk,
    queued: () => outboxWorker.kick(),
    log,
  }),
)
worker.start()

port.on('message', (message: 'kick' | 'stop') => {
  if (message === 'kick') {
    worker.kick()
    return
  }
  void (async () => {
    await worker.stop()
    await database.close()
    post({ type: 'stopped' })
    port.close()
  })()
})
