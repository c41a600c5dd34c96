import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { buildAppAt } from '../../test/auth.js'
import { onPostgres } from '../../test/database.js'
import { json, loginAdmin, type Session } from '../../test/helpers.js'
import { postgresAvailable, tempDatabase } from '../../test/postgres.js'
import { ADMIN_ENV, basicAuth, startServer } from '../../test/process.js'
import { eventually, startSmtpServer, type TestSmtpServer } from '../../test/smtp.js'
import { loadConfig } from '../core/config.js'
import { type Db, openDatabase } from '../core/db.js'
import type { Database } from '../database.js'
import { createCampaignsRepository } from './campaigns.repository.js'

/**
 * The mailing list on both databases: the same behaviour on SQLite (default) and on a
 * throwaway PostgreSQL database, including two instances sharing one database.
 */
const postgres = await postgresAvailable()
const backends = [
  { name: 'SQLite', available: !onPostgres },
  { name: 'PostgreSQL', available: postgres },
] as const

interface Campaign {
  id: string
  status: string
  recipients: number
  sent: number
  failed: number
}

const JWT_SECRET = 'a shared secret of at least thirty-two bytes'

describe.each(backends)('mailing list on $name', async ({ name, available }) => {
  if (!available) {
    it.skip(`${name}: not this run's database`)
    return
  }
  // Run last first: instances close before their SMTP servers and databases go.
  const cleanups: (() => unknown)[] = []
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup()
  })

  /** A fresh, empty database of this kind; its URL, and a data directory for an instance. */
  async function freshDatabase(): Promise<{ url: string; dataDir: string }> {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-backends-'))
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }))
    if (name === 'SQLite') return { url: `sqlite:${path.join(dataDir, 'test.db')}`, dataDir }
    const database = await tempDatabase()
    cleanups.push(() => database.drop())
    return { url: database.url, dataDir }
  }

  async function instance(
    database: { url: string; dataDir: string },
    env: Record<string, string> = {},
  ): Promise<{ app: FastifyInstance; admin: Session }> {
    const app = await buildAppAt(database.dataDir, {
      DATABASE_URL: database.url,
      JWT_SECRET,
      PUBLIC_URL: 'https://lists.example.org',
      MAIL_CONCURRENCY: '4',
      ...env,
    })
    cleanups.push(() => app.close())
    return { app, admin: await loginAdmin(app) }
  }

  /** Opens the database beside the instances, as another process would. */
  function openDirect(url: string): Db<Database> {
    const database = openDatabase<Database>(loadConfig({ DATABASE_URL: url }).database)
    cleanups.push(() => database.close())
    return database
  }

  async function importSubscribers(
    app: FastifyInstance,
    admin: Session,
    count: number,
  ): Promise<void> {
    const csv = ['name,email']
    for (let i = 0; i < count; i++) csv.push(`Reader ${i},reader${i}@example.com`)
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...admin.headers, 'content-type': 'text/csv' },
      payload: csv.join('\n'),
    })
    expect(json(response)).toMatchObject({ created: count, errors: [] })
  }

  async function campaign(app: FastifyInstance, admin: Session, subject: string) {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/campaigns',
      headers: admin.headers,
      payload: { subject, text: `Body of ${subject}` },
    })
    return json<Campaign>(response).id
  }

  const send = (app: FastifyInstance, admin: Session, id: string) =>
    app.inject({ method: 'POST', url: `/api/v1/campaigns/${id}/send`, headers: admin.headers })

  const finished = (app: FastifyInstance, admin: Session, id: string) =>
    eventually(async () => {
      const response = await app.inject({ url: `/api/v1/campaigns/${id}`, headers: admin.headers })
      const body = json<Campaign>(response)
      return body.status === 'sent' ? body : undefined
    }, 20_000)

  /** Mails of one campaign by recipient: every recipient must map to exactly one mail. */
  function byRecipient(smtp: TestSmtpServer, subject: string): Map<string, number> {
    const counts = new Map<string, number>()
    for (const mail of smtp.mails) {
      if (mail.parsed.subject !== subject) continue
      const to = mail.to[0] ?? ''
      counts.set(to, (counts.get(to) ?? 0) + 1)
    }
    return counts
  }

  it('subscribers: admin create, case-insensitive uniqueness, list by status, import skips known addresses, delete', async () => {
    const { app, admin } = await instance(await freshDatabase())
    const create = (email: string, status?: string) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/subscribers',
        headers: admin.headers,
        payload: { name: 'Ada', email, ...(status === undefined ? {} : { status }) },
      })
    const created = await create('Ada@Example.com')
    expect(created.statusCode).toBe(201)
    expect(json(created)).toMatchObject({ email: 'Ada@Example.com', status: 'confirmed' })
    expect((await create('ada@example.COM')).statusCode).toBe(409)
    expect((await create('bob@example.com', 'pending')).statusCode).toBe(201)

    const pending = await app.inject({
      url: '/api/v1/subscribers?status=pending',
      headers: admin.headers,
    })
    expect(json<{ items: { email: string }[] }>(pending).items.map((s) => s.email)).toEqual([
      'bob@example.com',
    ])
    const imported = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...admin.headers, 'content-type': 'text/csv' },
      payload: 'name,email\nAda again,ADA@example.com\nCy,cy@example.com\nBad,not-an-address\n',
    })
    expect(json(imported)).toMatchObject({
      created: 1,
      skipped: 1,
      errors: [{ line: 4, message: expect.any(String) }],
    })
    const id = json<{ id: string }>(created).id
    const removed = await app.inject({
      method: 'DELETE',
      url: `/api/v1/subscribers/${id}`,
      headers: admin.headers,
    })
    expect(removed.statusCode).toBe(204)
    expect(
      (await app.inject({ url: `/api/v1/subscribers/${id}`, headers: admin.headers })).statusCode,
    ).toBe(404)
  })

  it('two instances on one database deliver a campaign queued in small chunks, each mail once; sending again sends nothing twice', async () => {
    const smtp = await startSmtpServer()
    cleanups.push(() => smtp.close())
    // A slow server, so both instances' workers are busy at the same time.
    smtp.setDelay(5)
    const database = await freshDatabase()
    const env = { SMTP_URL: smtp.url, CAMPAIGN_QUEUE_CHUNK: '7' }
    const a = await instance(database, { ...env, MAIL_FROM: 'Instance A <a@example.org>' })
    const b = await instance(database, { ...env, MAIL_FROM: 'Instance B <b@example.org>' })
    const count = 200
    await importSubscribers(a.app, a.admin, count)
    const id = await campaign(a.app, a.admin, 'Shared')
    expect((await send(a.app, a.admin, id)).statusCode).toBe(202)
    expect((await send(b.app, b.admin, id)).statusCode).toBe(202)
    expect(await finished(b.app, b.admin, id)).toMatchObject({
      recipients: count,
      sent: count,
      failed: 0,
    })
    expect((await send(b.app, b.admin, id)).statusCode).toBe(202)
    await finished(a.app, a.admin, id)
    await new Promise((resolve) => setTimeout(resolve, 300))

    const counts = byRecipient(smtp, 'Shared')
    expect(counts.size).toBe(count)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
    const from = smtp.mails
      .filter((mail) => mail.parsed.subject === 'Shared')
      .map((mail) => mail.parsed.from?.value[0]?.address)
    // Both workers took part.
    expect(from.filter((address) => address === 'a@example.org').length).toBeGreaterThan(0)
    expect(from.filter((address) => address === 'b@example.org').length).toBeGreaterThan(0)
  })

  it('the built server, delivering on its own thread: two processes on one database send each mail once and stop cleanly', {
    timeout: 60_000,
  }, async () => {
    const smtp = await startSmtpServer()
    cleanups.push(() => smtp.close())
    smtp.setDelay(5)
    const database = await freshDatabase()
    const env = {
      DATABASE_URL: database.url,
      JWT_SECRET,
      ...ADMIN_ENV,
      SMTP_URL: smtp.url,
      PUBLIC_URL: 'https://lists.example.org',
      RATE_LIMIT: 'false',
      MAIL_CONCURRENCY: '4',
      CAMPAIGN_QUEUE_CHUNK: '7',
    }
    const a = await startServer({ ...env, MAIL_FROM: 'A <a@example.org>' }, database.dataDir)
    const b = await startServer({ ...env, MAIL_FROM: 'B <b@example.org>' }, database.dataDir)
    cleanups.push(
      () => a.child.kill('SIGKILL'),
      () => b.child.kill('SIGKILL'),
    )
    const call = async (
      base: string,
      method: string,
      url: string,
      body?: string,
      type?: string,
    ) => {
      const response = await fetch(`${base}${url}`, {
        method,
        headers: {
          authorization: basicAuth(ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD),
          ...(type === undefined ? {} : { 'content-type': type }),
        },
        ...(body === undefined ? {} : { body }),
      })
      return (await response.json()) as Record<string, unknown>
    }
    const count = 200
    const csv = ['name,email']
    for (let i = 0; i < count; i++) csv.push(`Reader ${i},reader${i}@example.com`)
    await call(a.url, 'POST', '/api/v1/subscribers/import', csv.join('\n'), 'text/csv')
    const { id } = await call(
      a.url,
      'POST',
      '/api/v1/campaigns',
      JSON.stringify({ subject: 'Threads', text: 'Hello' }),
      'application/json',
    )
    await call(a.url, 'POST', `/api/v1/campaigns/${String(id)}/send`)
    const done = await eventually(async () => {
      const campaign = await call(b.url, 'GET', `/api/v1/campaigns/${String(id)}`)
      return campaign.status === 'sent' ? campaign : undefined
    }, 30_000)
    expect(done).toMatchObject({ recipients: count, sent: count, failed: 0 })
    // The bundled server found its thread's file (dist/mail.thread.js) and used it.
    for (const server of [a, b]) expect(server.stdout()).toContain('"mailThread":true')
    expect(await a.stop('SIGTERM')).toMatchObject({ code: 0 })
    expect(await b.stop('SIGTERM')).toMatchObject({ code: 0 })

    const counts = byRecipient(smtp, 'Threads')
    expect(counts.size).toBe(count)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
    const from = smtp.mails
      .filter((mail) => mail.parsed.subject === 'Threads')
      .map((mail) => mail.parsed.from?.value[0]?.address)
    expect(from.filter((address) => address === 'a@example.org').length).toBeGreaterThan(0)
    expect(from.filter((address) => address === 'b@example.org').length).toBeGreaterThan(0)
  })

  it('a campaign left half queued by a crash is queued to the end on the next start, nobody twice', async () => {
    const smtp = await startSmtpServer()
    cleanups.push(() => smtp.close())
    const database = await freshDatabase()
    const env = { SMTP_URL: smtp.url, CAMPAIGN_QUEUE_CHUNK: '4' }
    const first = await instance(database, env)
    const count = 30
    await importSubscribers(first.app, first.admin, count)
    const id = await campaign(first.app, first.admin, 'Resumed')
    // Closing twice (here and at the end) is harmless.
    await first.app.close()

    // What a process killed after its first committed chunk leaves behind: 10 mails queued,
    // the cursor at the 10th subscriber, the campaign still 'queuing'.
    const direct = openDirect(database.url)
    const campaigns = createCampaignsRepository(direct.kysely)
    const through = await campaigns.queueChunk({
      campaignId: id,
      after: '',
      size: 10,
      now: new Date().toISOString(),
      messageIdHost: 'lists.example.org',
    })
    expect(through).not.toBeNull()
    await campaigns.startQueuing(id)
    await campaigns.setQueuedThrough(id, through ?? '')

    const second = await instance(database, env)
    expect(await finished(second.app, second.admin, id)).toMatchObject({
      recipients: count,
      sent: count,
      failed: 0,
    })
    const counts = byRecipient(smtp, 'Resumed')
    expect(counts.size).toBe(count)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
  })
})
