import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import SQLite from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { onPostgres, skipSuite } from '../../test/database.js'
import { ADMIN } from '../../test/helpers.js'
import { type ServerProcess, startServer } from '../../test/process.js'
import { type ReceivedMail, startSmtpServer } from '../../test/smtp.js'

const SUBSCRIBERS = 600
// The defaults an operator runs with: 32 mails in flight over 16 SMTP connections.
const CONCURRENCY = 32
const CONNECTIONS = 16
// As a real SMTP server answers (and slow enough that the kill lands mid-campaign).
const SMTP_DELAY_MS = 25

/**
 * The real server as a process, SIGKILLed in the middle of a campaign and started again on
 * the same database: delivery resumes by itself, everyone gets the mail, and only mails in
 * flight at the kill may arrive twice, with the same Message-ID.
 */
/** The admin's API calls, made to whichever server process is current (each test restarts it). */
function adminCalls(current: () => ServerProcess | undefined) {
  return async (method: string, url: string, body?: string, type = 'application/json') => {
    const response = await fetch(`${current()?.url}${url}`, {
      method,
      headers: {
        authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`,
        ...(body === undefined ? {} : { 'content-type': type }),
      },
      ...(body === undefined ? {} : { body }),
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }
}

/**
 * What the SMTP server got of one campaign: each recipient's Message-IDs, the duplicates, and
 * those of them whose first copy came after the kill (`mailedAtKill` mails in): sent twice by the
 * restarted server, not in flight at the kill.
 */
function deliveries(mails: readonly ReceivedMail[], subject: string, mailedAtKill: number) {
  const byRecipient = new Map<string, Set<string>>()
  const firstAt = new Map<string, number>()
  let total = 0
  let twiceAfterRestart = 0
  mails.forEach((mail, index) => {
    if (mail.parsed.subject !== subject) return
    total += 1
    const to = mail.to[0] ?? ''
    const ids = byRecipient.get(to) ?? new Set<string>()
    ids.add(mail.parsed.messageId ?? '')
    byRecipient.set(to, ids)
    const first = firstAt.get(to)
    if (first === undefined) firstAt.set(to, index)
    else if (first >= mailedAtKill) twiceAfterRestart += 1
  })
  return { byRecipient, total, duplicates: total - byRecipient.size, twiceAfterRestart }
}

describe('a campaign survives SIGKILL of the server', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-crash-'))
  let server: ServerProcess | undefined
  afterAll(() => {
    server?.child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('resumes after restart; duplicates are only the mails in flight', {
    timeout: 90_000,
  }, async () => {
    const smtp = await startSmtpServer()
    smtp.setDelay(SMTP_DELAY_MS)
    const env = {
      DATABASE_URL: `sqlite:${path.join(dataDir, 'crash.db')}`,
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      SMTP_URL: smtp.url,
      PUBLIC_URL: 'https://lists.example.org',
      OUTBOX_LEASE_SECONDS: '2',
      MAIL_CONCURRENCY: String(CONCURRENCY),
      RATE_LIMIT: 'false',
    }
    server = await startServer(env, dataDir)
    const call = adminCalls(() => server)

    const csv = ['name,email']
    for (let i = 0; i < SUBSCRIBERS; i++) csv.push(`Reader ${i},reader${i}@example.com`)
    const imported = await call('POST', '/api/v1/subscribers/import', csv.join('\n'), 'text/csv')
    expect(imported.body).toMatchObject({ created: SUBSCRIBERS, errors: [] })
    const campaign = await call(
      'POST',
      '/api/v1/campaigns',
      JSON.stringify({ subject: 'Crash', text: 'Hello' }),
    )
    const id = String(campaign.body.id)
    expect((await call('POST', `/api/v1/campaigns/${id}/send`)).status).toBe(202)

    await smtp.waitFor(SUBSCRIBERS / 3, 30_000)
    server.child.kill('SIGKILL')
    await server.exited
    // A mail whose last bytes left before the kill still reaches the sink (it answers 25 ms
    // later, and files the mail then): it belongs before the kill, not after the restart.
    let settled = smtp.mails.length
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      if (smtp.mails.length === settled) break
      settled = smtp.mails.length
    }
    const atKill = smtp.mails.length
    expect(atKill).toBeLessThan(SUBSCRIBERS)

    server = await startServer(env, dataDir)
    const deadline = Date.now() + 60_000
    let final: Record<string, unknown> = {}
    while (Date.now() < deadline) {
      final = (await call('GET', `/api/v1/campaigns/${id}`)).body
      if (final.status === 'sent') break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(final).toMatchObject({
      status: 'sent',
      recipients: SUBSCRIBERS,
      sent: SUBSCRIBERS,
      failed: 0,
    })

    const { byRecipient, total, duplicates, twiceAfterRestart } = deliveries(
      smtp.mails,
      'Crash',
      atKill,
    )
    console.info(
      `crash test: ${atKill} mails before SIGKILL, ${total} in all, ${duplicates} duplicates`,
    )
    expect(byRecipient.size).toBe(SUBSCRIBERS)
    // A duplicate keeps its Message-ID, so receivers can drop it.
    for (const ids of byRecipient.values()) expect(ids.size).toBe(1)
    // Every duplicate was a mail in flight at the kill...
    expect(twiceAfterRestart).toBe(0)
    // ...and a connection is given its next mail only once the last one it sent is recorded, so
    // at the kill at most one mail per connection was sent or being sent without a record.
    expect(duplicates).toBeLessThanOrEqual(CONNECTIONS)
    // The server's pooled connections would hold the SMTP server's close for 30 s.
    server.child.kill('SIGKILL')
    await server.exited
    await smtp.close()
  })
})

/**
 * SIGKILL while the campaign is still being queued (small chunks, so queuing takes a while):
 * the restarted server queues the rest by itself, and nobody is queued or mailed twice.
 */
describe('a campaign survives SIGKILL of the server while it is being queued', () => {
  if (skipSuite(onPostgres, 'SQLite only: it watches the SQLite file')) return
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-crash-queue-'))
  let server: ServerProcess | undefined
  afterAll(() => {
    server?.child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('queuing resumes from its cursor after restart; every subscriber gets the mail once', {
    timeout: 90_000,
  }, async () => {
    const count = 2000
    const smtp = await startSmtpServer()
    // Slow until the kill, as above.
    smtp.setDelay(SMTP_DELAY_MS)
    const file = path.join(dataDir, 'crash.db')
    const env = {
      DATABASE_URL: `sqlite:${file}`,
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      SMTP_URL: smtp.url,
      PUBLIC_URL: 'https://lists.example.org',
      OUTBOX_LEASE_SECONDS: '2',
      MAIL_CONCURRENCY: String(CONCURRENCY),
      CAMPAIGN_QUEUE_CHUNK: '5',
      RATE_LIMIT: 'false',
    }
    server = await startServer(env, dataDir)
    const call = adminCalls(() => server)
    const csv = ['name,email']
    for (let i = 0; i < count; i++) csv.push(`Reader ${i},reader${i}@example.com`)
    await call('POST', '/api/v1/subscribers/import', csv.join('\n'), 'text/csv')
    const id = String(
      (await call('POST', '/api/v1/campaigns', JSON.stringify({ subject: 'Queued', text: 'Hi' })))
        .body.id,
    )

    // Watch the database as another process would, and kill the server mid-queue.
    const watcher = new SQLite(file, { readonly: true, fileMustExist: true })
    const state = () => ({
      status: (
        watcher.prepare('select status from campaigns where id = ?').get(id) as { status: string }
      ).status,
      queued: (
        watcher.prepare('select count(*) as n from outbox where campaign_id = ?').get(id) as {
          n: number
        }
      ).n,
    })
    expect((await call('POST', `/api/v1/campaigns/${id}/send`)).status).toBe(202)
    const deadline = Date.now() + 30_000
    while (state().queued < count / 10 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    server.child.kill('SIGKILL')
    await server.exited
    const atKill = state()
    const mailedAtKill = smtp.mails.length
    watcher.close()
    expect(atKill.status).toBe('queuing')
    expect(atKill.queued).toBeGreaterThan(0)
    expect(atKill.queued).toBeLessThan(count)

    smtp.setDelay(0)
    server = await startServer(env, dataDir)
    const until = Date.now() + 60_000
    let final: Record<string, unknown> = {}
    while (Date.now() < until) {
      final = (await call('GET', `/api/v1/campaigns/${id}`)).body
      if (final.status === 'sent') break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(final).toMatchObject({ status: 'sent', recipients: count, sent: count, failed: 0 })

    const { byRecipient, total, duplicates, twiceAfterRestart } = deliveries(
      smtp.mails,
      'Queued',
      mailedAtKill,
    )
    console.info(
      `crash while queuing: ${atKill.queued} of ${count} queued at SIGKILL, ${total} mails, ${duplicates} duplicates`,
    )
    expect(byRecipient.size).toBe(count)
    for (const ids of byRecipient.values()) expect(ids.size).toBe(1)
    expect(twiceAfterRestart).toBe(0)
    // Queuing adds nothing twice; only mails in flight at the kill can go again, one at most
    // per connection.
    expect(duplicates).toBeLessThanOrEqual(CONNECTIONS)
    server.child.kill('SIGKILL')
    await server.exited
    await smtp.close()
  })
})
