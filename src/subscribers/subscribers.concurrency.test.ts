import path from 'node:path'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { onTestDatabase } from '../../test/database.js'
import { buildTestApp, json, loginAdmin } from '../../test/helpers.js'
import { eventually, linkIn, startSmtpServer } from '../../test/smtp.js'
import { loadConfig } from '../core/config.js'
import { openDatabase } from '../core/db.js'
import type { Database } from '../database.js'
import type { Subscriber } from './subscribers.schemas.js'

/** A lost update shows only when the transactions overlap: each race is run several times. */
const ROUNDS = 8
const RACERS = 8
const PUBLIC_URL = 'https://lists.example.org'

/** The statuses of one round, sorted: `200 412 412 …` when exactly one writer was applied. */
const outcome = (answers: readonly (LightMyRequestResponse | undefined)[]) =>
  answers
    .map((answer) => answer?.statusCode)
    .sort()
    .join(' ')
const oneOf = (won: number, lost: number) =>
  [won, ...Array.from({ length: RACERS - 1 }, () => lost)].join(' ')

/** Every round saw `expected`; the message lists them all, so a failure shows how many lost. */
function expectEveryRound(outcomes: readonly string[], expected: string): void {
  for (const seen of outcomes) expect(seen, outcomes.join('; ')).toBe(expected)
}

/**
 * Writes to subscribers that race: conditional writes naming one version, a single-use token
 * spent at once, signups that may mail an address at most once in a while, imports of the same
 * addresses. The check and the write are one step, so the rules hold under concurrency.
 */
const racingWrites = (env: () => Promise<Record<string, string>>) => async () => {
  const smtp = await startSmtpServer()
  afterAll(() => smtp.close())
  const settings = await env()
  const { app, dataDir } = await buildTestApp({
    SMTP_URL: smtp.url,
    PUBLIC_URL,
    MAIL_RETRY_BASE_MS: '50',
    ...settings,
  })
  const admin = await loginAdmin(app)
  // Beside the app, as another process would: what a signup queued is in the outbox at once.
  const database = openDatabase<Database>(
    loadConfig({
      // The app's own database: in the postgres run, the one made for its SQLite file.
      DATABASE_URL:
        settings.DATABASE_URL ??
        (await onTestDatabase({ DATABASE_URL: `sqlite:${path.join(dataDir, 'test.db')}` }))
          .DATABASE_URL ??
        '',
    }).database,
  )
  afterAll(() => database.close())

  let seq = 0
  const address = (label: string) => `${label}.${process.pid}.${++seq}@example.com`

  async function create(email: string, status?: Subscriber['status']): Promise<Subscriber> {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers',
      headers: admin.headers,
      payload: { name: 'Original', email, ...(status === undefined ? {} : { status }) },
    })
    expect(response.statusCode, response.body).toBe(201)
    return json<Subscriber>(response)
  }

  async function versionOf(url: string): Promise<string> {
    return String((await app.inject({ url, headers: admin.headers })).headers.etag)
  }

  async function mailsQueuedFor(email: string): Promise<number> {
    const row = await database.kysely
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('recipient_email', '=', email)
      .executeTakeFirstOrThrow()
    return Number(row.count)
  }

  /** Races RACERS writes naming the current version; each round's outcome. */
  async function raceWrites(
    method: 'PUT' | 'PATCH',
    payload: (round: number, writer: number) => Record<string, unknown>,
  ): Promise<string[]> {
    const url = `/api/v1/subscribers/${(await create(address('contested'))).id}`
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const headers = { ...admin.headers, 'if-match': await versionOf(url) }
      const answers = await Promise.all(
        Array.from({ length: RACERS }, (_, writer) =>
          app.inject({ method, url, headers, payload: payload(round, writer) }),
        ),
      )
      const applied = answers.filter((answer) => answer.statusCode === 200)
      const stored = json<Subscriber>(await app.inject({ url, headers: admin.headers }))
      // The one write that was applied is the one stored.
      const kept =
        applied.length === 1 &&
        JSON.stringify(json<Subscriber>(applied[0] as LightMyRequestResponse)) ===
          JSON.stringify(stored)
      outcomes.push(kept ? outcome(answers) : `${outcome(answers)} (stored: ${stored.name})`)
    }
    return outcomes
  }

  it('of several PATCHes naming one version, one is applied and the others are 412', async () => {
    const outcomes = await raceWrites('PATCH', (round, i) =>
      // Some change the status too, as an admin may.
      i % 2 === 0
        ? { name: `writer ${round}.${i}` }
        : { name: `writer ${round}.${i}`, status: 'unsubscribed' },
    )
    expectEveryRound(outcomes, oneOf(200, 412))
  })

  it('of several PUTs naming one version, one is applied and the others are 412', async () => {
    const outcomes = await raceWrites('PUT', (round, i) => ({
      name: `writer ${round}.${i}`,
      email: address(`put${round}-${i}`),
    }))
    expectEveryRound(outcomes, oneOf(200, 412))
  })

  it('a PATCH and a DELETE naming one version: one of them happens', async () => {
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const url = `/api/v1/subscribers/${(await create(address('doomed'))).id}`
      const headers = { ...admin.headers, 'if-match': await versionOf(url) }
      const [patch, remove] = await Promise.all([
        app.inject({ method: 'PATCH', url, headers, payload: { name: 'patched' } }),
        app.inject({ method: 'DELETE', url, headers }),
      ])
      outcomes.push(`${patch?.statusCode} ${remove?.statusCode}`)
    }
    for (const seen of outcomes) expect(['200 412', '404 204'], outcomes.join(', ')).toContain(seen)
  })

  it('a confirmation token spent by several requests at once confirms once; the others are 400', async () => {
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const email = address('confirm')
      await app.inject({
        method: 'POST',
        url: '/api/v1/subscribers',
        payload: { name: 'C', email },
      })
      const mail = await eventually(async () => smtp.mails.find((m) => m.to.includes(email)))
      const token =
        new URL(linkIn(mail, `${PUBLIC_URL}/subscribe/confirm?token=`)).searchParams.get('token') ??
        ''
      const answers = await Promise.all(
        Array.from({ length: RACERS }, () =>
          app.inject({ method: 'POST', url: '/api/v1/subscribers/confirm', payload: { token } }),
        ),
      )
      outcomes.push(outcome(answers))
    }
    expectEveryRound(outcomes, oneOf(200, 400))
  })

  it('signups of one known address at once queue one mail: the 10-minute and one-day limits hold', async () => {
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      // Never mailed: the first signup may mail it, and no other in the next 10 minutes (a day
      // for a confirmed address, which is told it is already subscribed).
      const status = (['pending', 'unsubscribed', 'confirmed'] as const)[round % 3]
      const email = address(`signup-${status}`)
      await create(email, status)
      const answers = await Promise.all(
        Array.from({ length: RACERS }, () =>
          app.inject({ method: 'POST', url: '/api/v1/subscribers', payload: { name: 'X', email } }),
        ),
      )
      outcomes.push(`${status}: ${outcome(answers)}, ${await mailsQueuedFor(email)} mail(s)`)
    }
    for (const [round, seen] of outcomes.entries()) {
      const status = ['pending', 'unsubscribed', 'confirmed'][round % 3]
      expect(seen, outcomes.join('; ')).toBe(`${status}: ${oneOf(202, 202)}, 1 mail(s)`)
    }
  })

  it('imports of the same addresses at once create each subscriber once and both succeed', async () => {
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const emails = Array.from({ length: 120 }, () => address(`import${round}`))
      // The second lists them the other way round: neither may wait for the other in a cycle.
      const answers = await Promise.all(
        [emails, [...emails].reverse()].map((list) =>
          app.inject({
            method: 'POST',
            url: '/api/v1/subscribers/import',
            headers: { ...admin.headers, 'content-type': 'text/csv' },
            payload: ['name,email', ...list.map((email) => `Reader,${email}`)].join('\n'),
          }),
        ),
      )
      const created = answers.map((answer) =>
        answer.statusCode === 200 ? json<{ created: number; skipped: number }>(answer) : undefined,
      )
      const total = created.reduce((sum, result) => sum + (result?.created ?? 0), 0)
      const skipped = created.reduce((sum, result) => sum + (result?.skipped ?? 0), 0)
      outcomes.push(`${outcome(answers)}, created ${total}, skipped ${skipped}`)
    }
    expectEveryRound(outcomes, '200 200, created 120, skipped 120')
  })
}

// On the database of the run: SQLite, or PostgreSQL in the postgres project (test/database.ts).
describe(
  'subscribers: racing writes',
  racingWrites(async () => ({})),
)
