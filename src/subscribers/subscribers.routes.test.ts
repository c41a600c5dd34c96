import path from 'node:path'
import { Readable } from 'node:stream'
import SQLite from 'better-sqlite3'
import { parse as parseCsv } from 'csv-parse/sync'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { onPostgres } from '../../test/database.js'
import { buildTestApp, json, loginAdmin, newUser } from '../../test/helpers.js'
import { eventually, linkIn, type ReceivedMail, startSmtpServer } from '../../test/smtp.js'

const PUBLIC_URL = 'https://lists.example.org'

describe('mailing list subscribers', async () => {
  const smtp = await startSmtpServer()
  afterAll(() => smtp.close())
  const { app, dataDir } = await buildTestApp({
    SMTP_URL: smtp.url,
    PUBLIC_URL,
    MAIL_RETRY_BASE_MS: '50',
  })
  const admin = await loginAdmin(app)
  const user = await newUser(app)
  let seq = 0
  const address = (label: string) => `${label}.${process.pid}.${++seq}@example.com`
  const signup = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/api/v1/subscribers', payload: body, headers })
  const mailsTo = (email: string) => smtp.mails.filter((mail) => mail.to.includes(email))
  const subscriberByEmail = async (email: string) => {
    const page = json<{ items: { id: string; email: string; status: string }[] }>(
      await app.inject({
        url: `/api/v1/subscribers?q=${encodeURIComponent(email)}`,
        headers: admin.headers,
      }),
    )
    return page.items.find((item) => item.email === email)
  }

  beforeEach(() => smtp.failNext(0, 0))

  it('signup answers 202 and mails a single-use confirm link at PUBLIC_URL; GET shows a button, POST confirms', async () => {
    const email = address('alice')
    const response = await signup(
      { name: 'Alice', email },
      // The link must not follow the request's Host.
      { host: 'evil.example' },
    )
    expect(response.statusCode).toBe(202)
    expect(json(response)).toEqual({ status: 'pending' })

    const mail = await eventually(async () => mailsTo(email)[0])
    expect(mail.parsed.to).toBeDefined()
    const link = linkIn(mail, `${PUBLIC_URL}/subscribe/confirm?token=`)
    const url = new URL(link)
    const token = url.searchParams.get('token') ?? ''
    expect(Buffer.from(token, 'base64url').length).toBeGreaterThanOrEqual(16)

    const get = await app.inject({ url: `${url.pathname}${url.search}` })
    expect(get.statusCode).toBe(200)
    expect(get.headers['content-type']).toMatch(/text\/html/)
    expect(String(get.headers['content-security-policy'])).toContain("frame-ancestors 'none'")
    expect(get.body).toContain('<form method="post"')
    expect(get.body).not.toContain('<script')
    expect((await subscriberByEmail(email))?.status).toBe('pending')

    const post = await app.inject({
      method: 'POST',
      url: `${url.pathname}${url.search}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: '',
    })
    expect(post.statusCode).toBe(200)
    expect(post.body).toContain('confirmed')
    expect((await subscriberByEmail(email))?.status).toBe('confirmed')

    const reuse = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/confirm',
      payload: { token },
    })
    expect(reuse.statusCode).toBe(400)
    expect(json(reuse).code).toBe('INVALID_SUBSCRIBER_TOKEN')
  })

  it('the API confirms with the token, once; an expired token is refused', async ({ skip }) => {
    skip(onPostgres, 'SQLite only: time passes in the SQLite file')
    const email = address('bob')
    await signup({ name: 'Bob', email })
    const token =
      new URL(linkIn(await eventually(async () => mailsTo(email)[0]), PUBLIC_URL)).searchParams.get(
        'token',
      ) ?? ''
    const confirmed = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/confirm',
      payload: { token },
    })
    expect(confirmed.statusCode).toBe(200)
    expect(json(confirmed)).toMatchObject({ email, name: 'Bob', status: 'confirmed' })
    expect(json(confirmed).confirmed_at).toEqual(expect.any(String))

    const late = address('late')
    await signup({ name: 'Late', email: late })
    const lateToken =
      new URL(linkIn(await eventually(async () => mailsTo(late)[0]), PUBLIC_URL)).searchParams.get(
        'token',
      ) ?? ''
    // 48 hours pass: move the token's expiry into the past.
    const db = new SQLite(path.join(dataDir, 'test.db'))
    db.prepare(
      "update subscriber_tokens set expires_at = '2000-01-01T00:00:00.000Z' where used_at is null",
    ).run()
    db.close()
    const expired = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/confirm',
      payload: { token: lateToken },
    })
    expect(expired.statusCode).toBe(400)
    const unknown = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/confirm',
      payload: { token: 'x'.repeat(43) },
    })
    expect(unknown.statusCode).toBe(400)
  })

  it('the answer is the same for a new, a pending and a confirmed address (no enumeration), and a pending one gets one mail per 10 minutes', async () => {
    const fresh = address('fresh')
    const pending = address('pending')
    const confirmed = address('confirmed')
    await signup({ name: 'P', email: pending })
    await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers',
      headers: admin.headers,
      payload: { name: 'C', email: confirmed },
    })
    await eventually(async () => mailsTo(pending)[0])

    const answers = await Promise.all(
      [fresh, pending, confirmed].map((email) => signup({ name: 'X', email })),
    )
    for (const answer of answers) {
      expect(answer.statusCode).toBe(202)
      expect(answer.body).toBe('{"status":"pending"}')
      expect(answer.headers['content-type']).toBe(answers[0]?.headers['content-type'])
    }
    // A normal user is treated as the public.
    const asUser = await signup({ name: 'U', email: address('user') }, user.headers)
    expect(asUser.statusCode).toBe(202)

    await eventually(async () => mailsTo(fresh)[0])
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(mailsTo(pending)).toHaveLength(1)
    expect((await subscriberByEmail(confirmed))?.status).toBe('confirmed')
  })

  it('addresses are validated by a mail library, CR/LF cannot inject headers, Unicode round-trips', async () => {
    for (const payload of [
      { name: 'Eve', email: 'not-an-address' },
      { name: 'Eve', email: 'eve@example.com\r\nBcc: victim@example.com' },
      { name: 'Eve\r\nBcc: victim@example.com', email: address('eve') },
      { name: 'Eve', email: address('eve'), status: 'confirmed' },
      { name: 'Eve', email: address('eve'), extra: 1 },
      { name: '', email: address('eve') },
    ]) {
      const response = await signup(payload)
      expect(response.statusCode, JSON.stringify(payload)).toBe(400)
      expect(response.headers['content-type']).toMatch(/problem\+json/)
    }

    const email = `zoë.${process.pid}@bücher.example`
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers',
      headers: admin.headers,
      payload: { name: 'Zoë Ångström 日本', email },
    })
    expect(created.statusCode).toBe(201)
    const id = json<{ id: string }>(created).id
    const got = json(await app.inject({ url: `/api/v1/subscribers/${id}`, headers: admin.headers }))
    expect(got).toMatchObject({ name: 'Zoë Ångström 日本', email })

    const unicodeName = address('uni')
    await signup({ name: 'Søren Ñandú', email: unicodeName })
    await eventually(async () => mailsTo(unicodeName)[0])
    expect(await subscriberByEmail(unicodeName)).toMatchObject({ name: 'Søren Ñandú' })
  })

  // Anyone can sign up any address: what they submit must not reach that address's inbox
  // (a greeting that is really an advert or a phishing line) until its owner confirms.
  const mailText = (mail: ReceivedMail) => `${mail.raw}\n${mail.parsed.text ?? ''}`
  const toName = (mail: ReceivedMail) =>
    mail.parsed.to && !Array.isArray(mail.parsed.to) ? (mail.parsed.to.value[0]?.name ?? '') : ''
  const ageLastMail = (email: string, minutes: number) => {
    const db = new SQLite(path.join(dataDir, 'test.db'))
    db.prepare('update subscribers set last_mailed_at = ? where email_normalised = ?').run(
      new Date(Date.now() - minutes * 60_000).toISOString(),
      email.toLowerCase(),
    )
    db.close()
  }
  const ATTACKER_NAME = 'Win a prize at evil dot example'

  it('the confirmation mail does not echo the submitted name, in the text or the To header', async () => {
    const email = address('echo')
    expect((await signup({ name: ATTACKER_NAME, email })).statusCode).toBe(202)
    const mail = await eventually(async () => mailsTo(email)[0])
    expect(linkIn(mail, `${PUBLIC_URL}/subscribe/confirm?token=`)).toBeTruthy()
    expect(mailText(mail)).not.toContain('prize')
    expect(toName(mail)).toBe('')
  })

  it('an anonymous signup for an unsubscribed address keeps its status and name; only the mailed link re-subscribes it', async () => {
    const email = address('owner')
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers',
      headers: admin.headers,
      payload: { name: 'Owner Name', email, status: 'unsubscribed' },
    })
    expect(created.statusCode).toBe(201)

    const answer = await signup({ name: ATTACKER_NAME, email: email.toUpperCase() })
    expect(answer.statusCode).toBe(202)
    expect(answer.body).toBe('{"status":"pending"}')
    expect(await subscriberByEmail(email)).toMatchObject({
      name: 'Owner Name',
      status: 'unsubscribed',
    })

    // The owner may come back: the mail carries a confirm link, and neither name.
    const mail = await eventually(async () => mailsTo(email)[0])
    expect(mailText(mail)).not.toContain('prize')
    expect(toName(mail)).toBe('')
    const token =
      new URL(linkIn(mail, `${PUBLIC_URL}/subscribe/confirm?token=`)).searchParams.get('token') ??
      ''
    const confirmed = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/confirm',
      payload: { token },
    })
    expect(confirmed.statusCode).toBe(200)
    expect(json(confirmed)).toMatchObject({ name: 'Owner Name', status: 'confirmed' })
  })

  it('a signup for a pending address changes neither its name nor its status', async ({ skip }) => {
    skip(onPostgres, 'SQLite only: time passes in the SQLite file')
    const email = address('pend')
    await signup({ name: 'Unconfirmed Person', email })
    const first = await eventually(async () => mailsTo(email)[0])
    ageLastMail(email, 11)
    await signup({ name: ATTACKER_NAME, email })
    const second = await eventually(async () => mailsTo(email)[1])
    // Neither the first nor the second caller has shown that the address is theirs.
    for (const mail of [first, second]) {
      expect(mailText(mail)).not.toContain('prize')
      expect(mailText(mail)).not.toContain('Unconfirmed Person')
    }
    expect(await subscriberByEmail(email)).toMatchObject({
      name: 'Unconfirmed Person',
      status: 'pending',
    })
  })

  it('a confirmed address gets no confirmation, and at most one "already subscribed" notice a day', async ({
    skip,
  }) => {
    skip(onPostgres, 'SQLite only: time passes in the SQLite file')
    const email = address('conf')
    await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers',
      headers: admin.headers,
      payload: { name: 'Confirmed Owner', email },
    })
    expect((await signup({ name: ATTACKER_NAME, email })).statusCode).toBe(202)
    const notice = await eventually(async () => mailsTo(email)[0])
    expect(mailText(notice)).not.toContain('prize')
    expect(mailText(notice)).not.toContain('/subscribe/confirm')
    expect(notice.parsed.subject).toBe('You are already subscribed')

    // An hour later, and again: the owner has been told; nothing more is sent.
    ageLastMail(email, 60)
    expect((await signup({ name: ATTACKER_NAME, email })).statusCode).toBe(202)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(mailsTo(email)).toHaveLength(1)
    expect(await subscriberByEmail(email)).toMatchObject({
      name: 'Confirmed Owner',
      status: 'confirmed',
    })

    // A day later a new notice may go.
    ageLastMail(email, 24 * 60 + 1)
    await signup({ name: ATTACKER_NAME, email })
    await eventually(async () => mailsTo(email)[1])
  })

  it('admins create (201, confirmed, no mail), list, get, put, patch and delete; emails are unique ignoring case', async () => {
    const email = address('Carol')
    const before = smtp.mails.length
    const created = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers',
      headers: admin.headers,
      payload: { name: 'Carol', email },
    })
    expect(created.statusCode).toBe(201)
    const carol = json<{ id: string; status: string }>(created)
    expect(carol.status).toBe('confirmed')
    expect(created.headers.location).toBe(`/api/v1/subscribers/${carol.id}`)

    const duplicate = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers',
      headers: admin.headers,
      payload: { name: 'Carol', email: email.toUpperCase() },
    })
    expect(duplicate.statusCode).toBe(409)

    const pending = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers',
      headers: admin.headers,
      payload: { name: 'Dave', email: address('dave'), status: 'pending' },
    })
    expect(json(pending).status).toBe('pending')

    const list = json<{ items: { status: string }[] }>(
      await app.inject({
        url: '/api/v1/subscribers?status=pending&limit=100',
        headers: admin.headers,
      }),
    )
    expect(list.items.length).toBeGreaterThan(0)
    expect(list.items.every((item) => item.status === 'pending')).toBe(true)
    const byQ = json<{ items: { id: string }[] }>(
      await app.inject({ url: `/api/v1/subscribers?q=carol`, headers: admin.headers }),
    )
    expect(byQ.items.map((item) => item.id)).toContain(carol.id)

    const forbidden = await app.inject({ url: '/api/v1/subscribers', headers: user.headers })
    expect(forbidden.statusCode).toBe(403)
    expect((await app.inject({ url: '/api/v1/subscribers' })).statusCode).toBe(401)

    const got = await app.inject({ url: `/api/v1/subscribers/${carol.id}`, headers: admin.headers })
    expect(got.statusCode).toBe(200)
    const etag = String(got.headers.etag)
    const newEmail = address('carol2')
    const put = await app.inject({
      method: 'PUT',
      url: `/api/v1/subscribers/${carol.id}`,
      headers: { ...admin.headers, 'if-match': etag },
      payload: { name: 'Carol B', email: newEmail },
    })
    expect(put.statusCode).toBe(200)
    expect(json(put)).toMatchObject({ name: 'Carol B', email: newEmail, status: 'confirmed' })
    const stale = await app.inject({
      method: 'PATCH',
      url: `/api/v1/subscribers/${carol.id}`,
      headers: { ...admin.headers, 'if-match': etag },
      payload: { name: 'x' },
    })
    expect(stale.statusCode).toBe(412)
    const patch = await app.inject({
      method: 'PATCH',
      url: `/api/v1/subscribers/${carol.id}`,
      headers: admin.headers,
      payload: { status: 'unsubscribed' },
    })
    expect(json(patch).status).toBe('unsubscribed')
    const taken = await app.inject({
      method: 'PATCH',
      url: `/api/v1/subscribers/${carol.id}`,
      headers: admin.headers,
      payload: { email: email.toUpperCase() },
    })
    expect(taken.statusCode).toBe(200)
    const clash = await app.inject({
      method: 'PATCH',
      url: `/api/v1/subscribers/${json<{ id: string }>(pending).id}`,
      headers: admin.headers,
      payload: { email },
    })
    expect(clash.statusCode).toBe(409)

    const deleted = await app.inject({
      method: 'DELETE',
      url: `/api/v1/subscribers/${carol.id}`,
      headers: admin.headers,
    })
    expect(deleted.statusCode).toBe(204)
    const gone = await app.inject({
      url: `/api/v1/subscribers/${carol.id}`,
      headers: admin.headers,
    })
    expect(gone.statusCode).toBe(404)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(smtp.mails.length).toBe(before)
  })

  it('imports CSV and JSON with bad lines reported and the good ones kept; exports CSV', async () => {
    const known = address('known')
    await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers',
      headers: admin.headers,
      payload: { name: 'Known', email: known },
    })
    const good1 = address('imp')
    const good2 = address('imp')
    const csv = [
      'name,email',
      `Ann,${good1}`,
      'Broken,not-an-email',
      `Known again,${known.toUpperCase()}`,
      `,${address('noname')}`,
      `"Quoted, Name",${good2}`,
      `Dup,${good1}`,
    ].join('\n')
    const imported = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...admin.headers, 'content-type': 'text/csv' },
      payload: csv,
    })
    expect(imported.statusCode).toBe(200)
    const result = json<{ created: number; skipped: number; errors: { line: number }[] }>(imported)
    expect(result.created).toBe(2)
    expect(result.skipped).toBe(2)
    expect(result.errors.map((error) => error.line)).toEqual([3, 5])
    expect((await subscriberByEmail(good2)) as unknown).toMatchObject({ status: 'confirmed' })

    const jsonImport = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...admin.headers, 'content-type': 'application/json' },
      payload: JSON.stringify([
        { name: 'J1', email: address('json') },
        { name: 'J2', email: 'bad' },
        { name: 'J3', email: address('json'), extra: true },
        { name: 'J4 "quoted" {brace}', email: address('json') },
      ]),
    })
    expect(jsonImport.statusCode).toBe(200)
    const jsonResult = json<{ created: number; errors: { line: number }[] }>(jsonImport)
    expect(jsonResult.created).toBe(2)
    expect(jsonResult.errors.map((error) => error.line)).toEqual([2, 3])

    // An element that is not an object is a bad line like any other, not a bad request.
    const first = address('json')
    const last = address('json')
    const mixed = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...admin.headers, 'content-type': 'application/json' },
      payload: `[ {"name":"M1","email":"${first}"}, "a string", 42 ,null,[1,{"a":"]"}],true,\n  {"name":"M2","email":"${last}"}, nope ]`,
    })
    expect(mixed.statusCode).toBe(200)
    const mixedResult = json<{
      created: number
      skipped: number
      errors: { line: number; message: string }[]
    }>(mixed)
    expect(mixedResult.created).toBe(2)
    expect(mixedResult.errors).toEqual([
      { line: 2, message: 'not an object with name and email' },
      { line: 3, message: 'not an object with name and email' },
      { line: 4, message: 'not an object with name and email' },
      { line: 5, message: 'not an object with name and email' },
      { line: 6, message: 'not an object with name and email' },
      { line: 8, message: 'not valid JSON' },
    ])
    expect((await subscriberByEmail(last)) as unknown).toMatchObject({ status: 'confirmed' })
    const notArray = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...admin.headers, 'content-type': 'application/json' },
      payload: '{"name":"X","email":"x@example.com"}',
    })
    expect(notArray.statusCode).toBe(400)

    const badHeader = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...admin.headers, 'content-type': 'text/csv' },
      payload: 'first,second\na,b\n',
    })
    expect(badHeader.statusCode).toBe(400)
    const asUser = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...user.headers, 'content-type': 'text/csv' },
      payload: csv,
    })
    expect(asUser.statusCode).toBe(403)

    const exported = await app.inject({ url: '/api/v1/subscribers/export', headers: admin.headers })
    expect(exported.statusCode).toBe(200)
    expect(exported.headers['content-type']).toMatch(/^text\/csv/)
    const lines = exported.body.trim().split('\n')
    expect(lines[0]).toBe('id,name,email,status,created_at,confirmed_at')
    expect(exported.body).toContain(good1)
    expect(exported.body).toContain('"Quoted, Name"')
  })

  it('an import reports the first 100 bad lines and counts them all; good lines among them still count', async () => {
    const good = [address('many'), address('many')]
    const csv = [
      'name,email',
      ...Array.from({ length: 150 }, (_, i) => `Bad ${i},not-an-address-${i}`),
      `Good,${good[0]}`,
      // Unreadable CSV lines are bad lines like any other.
      ...Array.from({ length: 50 }, (_, i) => `Bad "quote ${i}",x@example.com`),
      `Good,${good[1]}`,
    ].join('\n')
    const imported = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...admin.headers, 'content-type': 'text/csv' },
      payload: csv,
    })
    expect(imported.statusCode, imported.body).toBe(200)
    const result = json<{
      created: number
      skipped: number
      errors: { line: number; message: string }[]
      error_count: number
    }>(imported)
    expect(result.created).toBe(2)
    expect(result.skipped).toBe(0)
    expect(result.error_count).toBe(200)
    expect(result.errors).toHaveLength(100)
    expect(result.errors.map((error) => error.line)).toEqual(
      Array.from({ length: 100 }, (_, i) => i + 2),
    )

    const jsonImport = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...admin.headers, 'content-type': 'application/json' },
      payload: JSON.stringify(
        Array.from({ length: 300 }, (_, i) => ({ name: `J${i}`, email: 'no' })),
      ),
    })
    const jsonResult = json<{ errors: unknown[]; error_count: number }>(jsonImport)
    expect(jsonResult.errors).toHaveLength(100)
    expect(jsonResult.error_count).toBe(300)
  })

  it('an import over its size cap is refused with 413, whether or not the length is declared', async () => {
    const CAP = 16 * 1024 * 1024
    const line = `${'n'.repeat(99)},not-an-address\n`
    const lines = Math.ceil(CAP / line.length) + 1
    const declared = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...admin.headers, 'content-type': 'text/csv' },
      payload: `name,email\n${line.repeat(lines)}`,
    })
    expect(declared.statusCode).toBe(413)
    expect(declared.headers['content-type']).toMatch(/^application\/problem\+json/)

    // Streamed without a Content-Length: cut off once the cap is passed.
    for (const contentType of ['text/csv', 'application/json']) {
      const streamed = await app.inject({
        method: 'POST',
        url: '/api/v1/subscribers/import',
        headers: { ...admin.headers, 'content-type': contentType },
        payload: Readable.from(
          (function* () {
            yield contentType === 'text/csv' ? 'name,email\n' : '['
            const chunk =
              contentType === 'text/csv'
                ? line.repeat(1000)
                : `${JSON.stringify({ name: 'n'.repeat(80), email: 'bad' })},`.repeat(1000)
            for (let sent = 0; sent <= CAP; sent += chunk.length) yield chunk
          })(),
        ),
      })
      expect(streamed.statusCode, contentType).toBe(413)
      expect(streamed.headers['content-type']).toMatch(/^application\/problem\+json/)
    }
  })

  it('the CSV export neutralises a formula in every column (OWASP CSV injection)', async () => {
    const tag = `${process.pid}.${++seq}`
    const planted = [
      { name: '=HYPERLINK("http://evil.example","x")', email: `=cmd|x.${tag}@example.com` },
      { name: '+SUM(A1:A9)', email: `+plus.${tag}@example.com` },
      { name: '-2+3', email: `-minus.${tag}@example.com` },
      { name: '@SUM(A1)', email: `=1+1.${tag}@example.com` },
      { name: '\uff1d1+1', email: `plain.${tag}@example.com` },
    ]
    for (const payload of planted) {
      const created = await app.inject({
        method: 'POST',
        url: '/api/v1/subscribers',
        headers: admin.headers,
        payload,
      })
      expect(created.statusCode, created.body).toBe(201)
    }
    const exported = await app.inject({ url: '/api/v1/subscribers/export', headers: admin.headers })
    expect(exported.statusCode).toBe(200)
    const rows = parseCsv(exported.body) as string[][]
    expect(rows[0]).toEqual(['id', 'name', 'email', 'status', 'created_at', 'confirmed_at'])
    for (const row of rows) {
      for (const cell of row) expect(cell).not.toMatch(/^[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]/)
    }
    for (const { name, email } of planted) {
      const row = rows.find((cells) => cells[2]?.endsWith(email))
      expect(row, email).toBeDefined()
      // The quote is the only change: a reader who strips it gets the value back.
      expect(row?.[1]).toBe(/^[=+\-@\uff1d]/.test(name) ? `'${name}` : name)
      expect(row?.[2]).toBe(/^[=+\-@]/.test(email) ? `'${email}` : email)
    }
  })
})

describe('public signup rate limit', async () => {
  const { app } = await buildTestApp({ RATE_LIMIT: 'true' })
  const admin = await loginAdmin(app)

  it('allows 20 public signups an hour per client address, and does not count an admin', async () => {
    const statuses: number[] = []
    for (let i = 0; i < 21; i++) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/subscribers',
        payload: { name: 'R', email: `rate${i}@example.com` },
      })
      statuses.push(response.statusCode)
      if (response.statusCode === 429) expect(response.headers['retry-after']).toBeDefined()
    }
    expect(statuses.slice(0, 20).every((status) => status === 202)).toBe(true)
    expect(statuses[20]).toBe(429)
    const asAdmin = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers',
      headers: admin.headers,
      payload: { name: 'A', email: 'admin-added@example.com' },
    })
    expect(asAdmin.statusCode).toBe(201)
  })
})
