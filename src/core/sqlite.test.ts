import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  ADMIN_ENV,
  basicAuth,
  postJson,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../test/process.js'
import { startSmtpServer, type TestSmtpServer } from '../../test/smtp.js'

const PASSWORD = 'a perfectly fine test password'
const admin = basicAuth(ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD)

const dirs: string[] = []
const servers: ServerProcess[] = []
const smtpServers: TestSmtpServer[] = []
afterAll(async () => {
  // SIGKILL: the server's pooled SMTP connections would hold the SMTP server's close for 30 s.
  await Promise.all(servers.map((server) => server.stop('SIGKILL')))
  await Promise.all(smtpServers.map((smtp) => smtp.close()))
  for (const dir of dirs) removeDir(dir)
})

describe('SQLite with the outbox thread writing beside the requests', () => {
  const SUBSCRIBERS = 3000
  const CLIENTS = 8

  it('signups and todo writes during a campaign are all acknowledged, none answered 5xx', {
    timeout: 60_000,
  }, async () => {
    const smtp = await startSmtpServer()
    smtpServers.push(smtp)
    const dataDir = tempDir('gatehouse-sqlite-')
    dirs.push(dataDir)
    const server = await startServer(
      {
        DATABASE_URL: `sqlite:${path.join(dataDir, 'gatehouse.db')}`,
        SMTP_URL: smtp.url,
        PUBLIC_URL: 'https://lists.example.org',
        RATE_LIMIT: 'false',
        ...ADMIN_ENV,
      },
      dataDir,
    )
    servers.push(server)
    const api = `${server.url}/api/v1`

    const csv = ['name,email']
    for (let i = 0; i < SUBSCRIBERS; i++) csv.push(`Reader ${i},reader${i}@example.com`)
    const imported = await fetch(`${api}/subscribers/import`, {
      method: 'POST',
      headers: { authorization: admin, 'content-type': 'text/csv' },
      body: csv.join('\n'),
    })
    expect(await imported.json()).toMatchObject({ created: SUBSCRIBERS, errors: [] })

    const user = { username: 'writer', password: PASSWORD, name: 'Writer' }
    expect((await postJson(`${api}/auth/register`, user)).status).toBe(201)
    const login = await postJson(`${api}/auth/login`, { username: 'writer', password: PASSWORD })
    const { access_token } = (await login.json()) as { access_token: string }
    const writer = { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' }

    const campaign = (await (
      await fetch(`${api}/campaigns`, {
        method: 'POST',
        headers: { authorization: admin, 'content-type': 'application/json' },
        body: JSON.stringify({ subject: 'Busy', text: 'Hello' }),
      })
    ).json()) as { id: string }
    const send = await fetch(`${api}/campaigns/${campaign.id}/send`, {
      method: 'POST',
      headers: { authorization: admin },
    })
    expect(send.status).toBe(202)

    let finished = false
    const watcher = (async () => {
      while (!finished) {
        const response = await fetch(`${api}/campaigns/${campaign.id}`, {
          headers: { authorization: admin },
        })
        const body = (await response.json()) as { status: string }
        if (body.status === 'sent') finished = true
        else await new Promise((resolve) => setTimeout(resolve, 50))
      }
    })()

    const refused: Record<string, number> = {}
    let acknowledged = 0
    let next = 0
    const expectStatus = (what: string, response: Response, status: number) => {
      if (response.status === status) acknowledged += 1
      else
        refused[`${what}: ${response.status}`] = (refused[`${what}: ${response.status}`] ?? 0) + 1
    }
    // Each client alternates a public signup (one transaction: read the address, then write
    // the subscriber and its mail) with creating a todo and editing it (read, then update).
    async function client(): Promise<void> {
      while (!finished) {
        const n = next++
        const signup = await postJson(`${server.url}/api/v1/subscribers`, {
          name: `Signup ${n}`,
          email: `signup${n}@example.com`,
        })
        expectStatus('signup', signup, 202)
        const created = await fetch(`${api}/todos`, {
          method: 'POST',
          headers: writer,
          body: JSON.stringify({ title: `Todo ${n}` }),
        })
        expectStatus('todo create', created, 201)
        if (created.status !== 201) continue
        const { id } = (await created.json()) as { id: string }
        const edited = await fetch(`${api}/todos/${id}`, {
          method: 'PATCH',
          headers: writer,
          body: JSON.stringify({ title: `Todo ${n}, edited` }),
        })
        expectStatus('todo edit', edited, 200)
      }
    }
    await Promise.all([watcher, ...Array.from({ length: CLIENTS }, client)])
    console.info(
      `writes during a campaign of ${SUBSCRIBERS}: ${acknowledged} acknowledged, refused: ${JSON.stringify(refused)}`,
    )
    // The campaign took long enough for the writes to overlap it.
    expect(acknowledged).toBeGreaterThan(300)
    expect(refused).toEqual({})
    expect(server.stdout()).not.toContain('database is locked')
  })
})
