import { afterAll, describe, expect, it } from 'vitest'
import { buildTestApp, json, loginAdmin, newUser } from '../../test/helpers.js'
import {
  eventually,
  headerOf,
  listUnsubscribeUrl,
  startSmtpServer,
  type TestSmtpServer,
} from '../../test/smtp.js'

const PUBLIC_URL = 'https://lists.example.org'

interface Campaign {
  id: string
  status: string
  recipients: number
  sent: number
  failed: number
}

async function setup(smtp: TestSmtpServer) {
  const { app } = await buildTestApp({
    SMTP_URL: smtp.url,
    PUBLIC_URL,
    MAIL_RETRY_BASE_MS: '50',
    MAIL_CONCURRENCY: '4',
  })
  const admin = await loginAdmin(app)
  const addSubscriber = async (email: string, status = 'confirmed') => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers',
      headers: admin.headers,
      payload: { name: `Name of ${email}`, email, status },
    })
    return json<{ id: string }>(response).id
  }
  const createCampaign = async (subject: string) =>
    json<Campaign>(
      await app.inject({
        method: 'POST',
        url: '/api/v1/campaigns',
        headers: admin.headers,
        payload: { subject, text: `Body of ${subject}` },
      }),
    )
  const send = (id: string) =>
    app.inject({ method: 'POST', url: `/api/v1/campaigns/${id}/send`, headers: admin.headers })
  const get = async (id: string) =>
    json<Campaign>(await app.inject({ url: `/api/v1/campaigns/${id}`, headers: admin.headers }))
  const finished = (id: string) =>
    eventually(async () => {
      const campaign = await get(id)
      return campaign.status === 'sent' ? campaign : undefined
    })
  return { app, admin, addSubscriber, createCampaign, send, get, finished }
}

describe('campaigns', async () => {
  const smtp = await startSmtpServer()
  afterAll(() => smtp.close())
  const t = await setup(smtp)
  const { app, admin } = t

  it('reach confirmed subscribers only, each once, with one-click unsubscribe headers and a stable Message-ID', async () => {
    const confirmed = ['c1@example.com', 'c2@example.com', 'c3@example.com']
    for (const email of confirmed) await t.addSubscriber(email)
    await t.addSubscriber('p1@example.com', 'pending')
    await t.addSubscriber('u1@example.com', 'unsubscribed')

    const draft = await t.createCampaign('News 1')
    expect(draft).toMatchObject({ status: 'draft', recipients: 0, sent: 0, failed: 0 })
    const accepted = await t.send(draft.id)
    expect(accepted.statusCode).toBe(202)
    // Sending again must not send anything twice.
    expect((await t.send(draft.id)).statusCode).toBe(202)
    const done = await t.finished(draft.id)
    expect(done).toMatchObject({ recipients: 3, sent: 3, failed: 0 })
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect((await t.send(draft.id)).statusCode).toBe(202)
    await new Promise((resolve) => setTimeout(resolve, 300))

    const mails = smtp.mails.filter((mail) => mail.parsed.subject === 'News 1')
    expect(mails.map((mail) => mail.to[0]).sort()).toEqual(confirmed)
    const ids = new Set(mails.map((mail) => mail.parsed.messageId))
    expect(ids.size).toBe(3)
    for (const mail of mails) {
      expect(mail.parsed.messageId).toMatch(/@lists\.example\.org>?$/)
      expect(headerOf(mail, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click')
      const listUnsubscribe = listUnsubscribeUrl(mail).toString()
      expect(listUnsubscribe.startsWith(`${PUBLIC_URL}/unsubscribe?token=`)).toBe(true)
      expect(mail.parsed.text).toContain(listUnsubscribe)
    }
    const list = json<{ items: Campaign[] }>(
      await app.inject({ url: '/api/v1/campaigns', headers: admin.headers }),
    )
    expect(list.items.find((item) => item.id === draft.id)).toMatchObject({ sent: 3 })
  })

  it('one-click unsubscribe (RFC 8058) works without auth or cookies and answers 200; the page button works too', async () => {
    await t.addSubscriber('oneclick@example.com')
    await t.addSubscriber('button@example.com')
    const campaign = await t.createCampaign('News 2')
    await t.send(campaign.id)
    await t.finished(campaign.id)
    const unsubscribeUrl = (to: string) => {
      const mail = smtp.mails.find((m) => m.parsed.subject === 'News 2' && m.to.includes(to))
      if (mail === undefined) throw new Error(`no mail to ${to}`)
      return listUnsubscribeUrl(mail)
    }
    const oneClick = unsubscribeUrl('oneclick@example.com')
    const response = await app.inject({
      method: 'POST',
      url: `${oneClick.pathname}${oneClick.search}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    })
    expect(response.statusCode).toBe(200)
    expect(response.headers.location).toBeUndefined()

    const button = unsubscribeUrl('button@example.com')
    const page = await app.inject({ url: `${button.pathname}${button.search}` })
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('method="post"')
    const viaApi = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/unsubscribe',
      payload: { token: button.searchParams.get('token') },
    })
    expect(viaApi.statusCode).toBe(200)
    expect(json(viaApi).status).toBe('unsubscribed')

    const statuses = json<{ items: { email: string; status: string }[] }>(
      await app.inject({ url: '/api/v1/subscribers?status=unsubscribed', headers: admin.headers }),
    ).items.map((item) => item.email)
    expect(statuses).toEqual(expect.arrayContaining(['oneclick@example.com', 'button@example.com']))

    const next = await t.createCampaign('News 3')
    await t.send(next.id)
    await t.finished(next.id)
    const got = smtp.mails.filter((m) => m.parsed.subject === 'News 3').map((m) => m.to[0])
    expect(got).not.toContain('oneclick@example.com')
    expect(got).not.toContain('button@example.com')

    const bad = await app.inject({
      method: 'POST',
      url: '/unsubscribe?token=nope',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'List-Unsubscribe=One-Click',
    })
    expect(bad.statusCode).toBe(400)
  })

  it('only admins manage campaigns', async () => {
    const user = await newUser(app)
    expect((await app.inject({ url: '/api/v1/campaigns', headers: user.headers })).statusCode).toBe(
      403,
    )
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/api/v1/campaigns/nope/send',
          headers: admin.headers,
        })
      ).statusCode,
    ).toBe(404)
    const bad = await app.inject({
      method: 'POST',
      url: '/api/v1/campaigns',
      headers: admin.headers,
      payload: { subject: 'Hi\r\nBcc: x@example.com', text: 'x' },
    })
    expect(bad.statusCode).toBe(400)
  })
})

describe('campaign delivery against a failing SMTP server', async () => {
  const smtp = await startSmtpServer()
  afterAll(() => smtp.close())
  const t = await setup(smtp)

  it('a 4xx answer is retried until 250; a 5xx is failed and not retried; the counts are exact', async () => {
    for (let i = 0; i < 4; i++) await t.addSubscriber(`r${i}@example.com`)
    smtp.failNext(3, 451)
    const retried = await t.createCampaign('Retry')
    await t.send(retried.id)
    expect(await t.finished(retried.id)).toMatchObject({ recipients: 4, sent: 4, failed: 0 })
    expect(smtp.refused).toBe(3)
    expect(smtp.mails.filter((m) => m.parsed.subject === 'Retry')).toHaveLength(4)

    smtp.failNext(2, 550)
    const refused = await t.createCampaign('Refused')
    await t.send(refused.id)
    expect(await t.finished(refused.id)).toMatchObject({ recipients: 4, sent: 2, failed: 2 })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(smtp.refused).toBe(5)
    expect(smtp.mails.filter((m) => m.parsed.subject === 'Refused')).toHaveLength(2)
  })
})
