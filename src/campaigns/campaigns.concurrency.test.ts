import { afterAll, describe, expect, it } from 'vitest'
import { buildTestApp, json, loginAdmin } from '../../test/helpers.js'
import { eventually, startSmtpServer } from '../../test/smtp.js'

const ROUNDS = 3
const SENDS = 8
const SUBSCRIBERS = 40

interface Campaign {
  id: string
  status: string
  recipients: number
  sent: number
  failed: number
}

/** Every round saw `expected`; the message lists them all, so a failure shows how many lost. */
function expectEveryRound(outcomes: readonly string[], expected: string): void {
  for (const seen of outcomes) expect(seen, outcomes.join('; ')).toBe(expected)
}

/**
 * `send` starts (or restarts) queuing a campaign; calls that race, and race the queuing they
 * started, still reach each confirmed subscriber once (docs/mailing-list.md).
 */
const racingSends = (env: () => Promise<Record<string, string>>) => async () => {
  const smtp = await startSmtpServer()
  afterAll(() => smtp.close())
  const { app } = await buildTestApp({
    SMTP_URL: smtp.url,
    PUBLIC_URL: 'https://lists.example.org',
    MAIL_CONCURRENCY: '4',
    // Small chunks: the sends land while the campaign is being queued, not only before.
    CAMPAIGN_QUEUE_CHUNK: '7',
    ...(await env()),
  })
  const admin = await loginAdmin(app)
  const csv = ['name,email']
  for (let i = 0; i < SUBSCRIBERS; i++) csv.push(`Reader ${i},reader${i}@example.com`)
  const imported = await app.inject({
    method: 'POST',
    url: '/api/v1/subscribers/import',
    headers: { ...admin.headers, 'content-type': 'text/csv' },
    payload: csv.join('\n'),
  })
  expect(json(imported)).toMatchObject({ created: SUBSCRIBERS })

  it('a draft sent several times at once reaches each confirmed subscriber once', async () => {
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const subject = `Race ${round}`
      const created = await app.inject({
        method: 'POST',
        url: '/api/v1/campaigns',
        headers: admin.headers,
        payload: { subject, text: `Body of ${subject}` },
      })
      const id = json<Campaign>(created).id
      const sends = await Promise.all(
        Array.from({ length: SENDS }, () =>
          app.inject({
            method: 'POST',
            url: `/api/v1/campaigns/${id}/send`,
            headers: admin.headers,
          }),
        ),
      )
      expect(sends.map((send) => send.statusCode)).toEqual(sends.map(() => 202))
      const done = await eventually(async () => {
        const campaign = json<Campaign>(
          await app.inject({ url: `/api/v1/campaigns/${id}`, headers: admin.headers }),
        )
        return campaign.status === 'sent' ? campaign : undefined
      }, 20_000)
      const perRecipient = new Map<string, number>()
      for (const mail of smtp.mails) {
        if (mail.parsed.subject !== subject) continue
        const to = mail.to[0] ?? ''
        perRecipient.set(to, (perRecipient.get(to) ?? 0) + 1)
      }
      const twice = [...perRecipient.values()].filter((count) => count > 1).length
      outcomes.push(
        `recipients ${done.recipients}, sent ${done.sent}, mailed ${perRecipient.size}, twice ${twice}`,
      )
    }
    const once = `recipients ${SUBSCRIBERS}, sent ${SUBSCRIBERS}, mailed ${SUBSCRIBERS}, twice 0`
    expectEveryRound(outcomes, once)
  })
}

// On the database of the run: SQLite, or PostgreSQL in the postgres project (test/database.ts).
describe(
  'campaigns: racing sends',
  racingSends(async () => ({})),
)
