import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_ENV } from '../process.js'
import type { TestSmtpServer } from '../smtp.js'

/**
 * A running Gatehouse made of several processes — instances behind nginx, or WORKERS on one
 * port — as the checks below see it: one base URL. API.md §12: whichever process answers, every
 * rule holds.
 */
export interface Service {
  /** Where clients call the service. */
  readonly baseUrl: string
  /** The SMTP server the service's SMTP_URL points at. */
  readonly smtp: TestSmtpServer
  /**
   * How many requests each process has logged so far (from its request log lines), to see that
   * requests really spread; undefined where that cannot be told apart.
   */
  requestsPerProcess?(): number[]
  /**
   * How the checks call it; the global fetch by default. WORKERS on one port needs a new
   * connection per request to spread them: the cluster primary hands out connections, not
   * requests.
   */
  fetch?: typeof fetch
  stop(): Promise<void>
}

/**
 * Starts a service for the checks: ADMIN_USERNAME/ADMIN_PASSWORD as in test/process.ts's
 * ADMIN_ENV, SMTP_URL at the returned `smtp`, and TRUSTED_PROXIES covering 127.0.0.1 so that
 * the X-Forwarded-For each check sends makes it a client of its own (limits count per client).
 */
export type Topology = () => Promise<Service>

interface Answer {
  status: number
  headers: Headers
  body: Record<string, unknown>
}

const PASSWORD = 'a perfectly fine test password'

/** The multi-process contract of API.md §12, run against `topology`'s service. */
export function describeMultiProcessContract(name: string, topology: Topology): void {
  describe(name, () => {
    // Started before the first check, not while tests are collected: a run that filters these
    // checks out (-t) starts nothing it would not stop.
    let service: Service | undefined
    let admin = { accessToken: '', refreshToken: '' }
    const started = (): Service => {
      if (service === undefined) throw new Error('the service did not start')
      return service
    }
    beforeAll(async () => {
      service = await topology()
      admin = await login(ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD)
    })
    afterAll(() => service?.stop())
    // Each check is a client of its own: 198.18.0.0/15 is reserved for benchmarking.
    let clients = 0
    const newClient = () => {
      clients += 1
      return `198.18.${Math.floor(clients / 250)}.${(clients % 250) + 1}`
    }

    async function call(
      method: string,
      path: string,
      options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
    ): Promise<Answer> {
      const headers: Record<string, string> = { ...options.headers }
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
      if (options.body !== undefined) headers['content-type'] = 'application/json'
      const response = await (started().fetch ?? fetch)(started().baseUrl + path, {
        method,
        headers,
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      })
      const text = await response.text()
      let body: Record<string, unknown> = {}
      try {
        body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
      } catch {
        body = { text }
      }
      return { status: response.status, headers: response.headers, body }
    }

    interface Session {
      id: string
      username: string
      accessToken: string
      refreshToken: string
    }

    async function login(username: string, password: string, client = newClient()) {
      const answer = await call('POST', '/api/v1/auth/login', {
        body: { username, password },
        headers: { 'x-forwarded-for': client },
      })
      expect(answer.status, JSON.stringify(answer.body)).toBe(200)
      return {
        accessToken: String(answer.body.access_token),
        refreshToken: String(answer.body.refresh_token),
      }
    }

    async function newUser(): Promise<Session> {
      const username = `u${randomBytes(6).toString('hex')}`
      const registered = await call('POST', '/api/v1/auth/register', {
        body: { username, password: PASSWORD, name: 'Multi' },
        headers: { 'x-forwarded-for': newClient() },
      })
      expect(registered.status, JSON.stringify(registered.body)).toBe(201)
      return { id: String(registered.body.id), username, ...(await login(username, PASSWORD)) }
    }

    /** `times` requests in turn: round robin (or the kernel) hands them to every process. */
    async function statusesOf(times: number, request: () => Promise<Answer>): Promise<number[]> {
      const statuses: number[] = []
      for (let i = 0; i < times; i++) statuses.push((await request()).status)
      return statuses
    }
    const everywhere = 9
    const patchUser = (id: string, body: Record<string, unknown>) =>
      call('PATCH', `/api/v1/users/${id}`, { token: admin.accessToken, body })

    it('requests spread over every process', async () => {
      const { requestsPerProcess } = started()
      if (requestsPerProcess === undefined) return
      const before = requestsPerProcess()
      await statusesOf(30, () => call('GET', '/api/v1/public'))
      const after = requestsPerProcess()
      const served = after.map((count, i) => count - (before[i] ?? 0))
      expect(served.length).toBeGreaterThan(1)
      for (const count of served) expect(count, String(served)).toBeGreaterThan(0)
    })

    it('a token from one process works on all; a logout on one is refused by all', async () => {
      const user = await newUser()
      expect(
        await statusesOf(everywhere, () =>
          call('GET', '/api/v1/private', { token: user.accessToken }),
        ),
      ).toEqual(Array(everywhere).fill(200))
      const logout = await call('POST', '/api/v1/auth/logout', { token: user.accessToken })
      expect(logout.status).toBe(204)
      const after = await statusesOf(everywhere, () =>
        call('GET', '/api/v1/private', { token: user.accessToken }),
      )
      expect(after).toEqual(Array(everywhere).fill(401))
      const refresh = await call('POST', '/api/v1/auth/refresh', {
        body: { refresh_token: user.refreshToken },
      })
      expect(refresh.status).toBe(401)
    })

    it('a session ended on one process (revocation) is refused by all', async () => {
      const user = await newUser()
      const other = await login(user.username, PASSWORD)
      const sessions = await call('GET', '/api/v1/profile/sessions', { token: other.accessToken })
      const items = (sessions.body.items ?? sessions.body) as { id: string; current: boolean }[]
      const current = items.find((session) => session.current)
      expect(current).toBeDefined()
      const ended = await call('DELETE', `/api/v1/profile/sessions/${current?.id}`, {
        token: user.accessToken,
      })
      expect(ended.status).toBe(204)
      expect(
        await statusesOf(everywhere, () =>
          call('GET', '/api/v1/private', { token: other.accessToken }),
        ),
      ).toEqual(Array(everywhere).fill(401))
      expect(
        await statusesOf(everywhere, () =>
          call('GET', '/api/v1/private', { token: user.accessToken }),
        ),
      ).toEqual(Array(everywhere).fill(200))
    })

    it('demotion and disabling on one process count on all at once', async () => {
      const user = await newUser()
      const users = () => call('GET', '/api/v1/users', { token: user.accessToken })
      expect((await patchUser(user.id, { role: 'admin' })).status).toBe(200)
      expect(await statusesOf(everywhere, users)).toEqual(Array(everywhere).fill(200))
      expect((await patchUser(user.id, { role: 'user' })).status).toBe(200)
      expect(await statusesOf(everywhere, users)).toEqual(Array(everywhere).fill(403))
      expect((await patchUser(user.id, { disabled: true })).status).toBe(200)
      expect(
        await statusesOf(everywhere, () =>
          call('GET', '/api/v1/private', { token: user.accessToken }),
        ),
      ).toEqual(Array(everywhere).fill(401))
      const basic = `Basic ${Buffer.from(`${user.username}:${PASSWORD}`).toString('base64')}`
      expect(
        await statusesOf(everywhere, () =>
          call('GET', '/api/v1/private', { headers: { authorization: basic } }),
        ),
      ).toEqual(Array(everywhere).fill(401))
    })

    it('of 10 concurrent refreshes with one token, at most one succeeds', async () => {
      const user = await newUser()
      for (let round = 0; round < 3; round++) {
        const session = await login(user.username, PASSWORD)
        const answers = await Promise.all(
          Array.from({ length: 10 }, () =>
            call('POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refreshToken } }),
          ),
        )
        const statuses = answers.map((answer) => answer.status)
        expect(
          statuses.filter((status) => status === 200).length,
          String(statuses),
        ).toBeLessThanOrEqual(1)
        expect(
          statuses.every((status) => status === 200 || status === 401),
          String(statuses),
        ).toBe(true)
      }
    })

    it('credential guessing is counted across processes (10 failures for one account and client)', async () => {
      const user = await newUser()
      const client = newClient()
      const attempt = (password: string) =>
        call('POST', '/api/v1/auth/login', {
          body: { username: user.username, password },
          headers: { 'x-forwarded-for': client },
        })
      expect(await statusesOf(10, () => attempt('not the password at all'))).toEqual(
        Array(10).fill(401),
      )
      // Counted per process, each would still have room: the right password would pass.
      const held = await attempt(PASSWORD)
      expect(held.status).toBe(429)
      expect(Number(held.headers.get('retry-after'))).toBeGreaterThan(0)
    })

    it('the request limit (600 a minute for a caller) is counted across processes', async () => {
      const user = await newUser()
      const statuses: number[] = []
      // In waves of 50 concurrent requests, so every process serves its share.
      for (let wave = 0; wave < 13; wave++) {
        const answers = await Promise.all(
          Array.from({ length: 50 }, () =>
            call('GET', '/api/v1/private', { token: user.accessToken }),
          ),
        )
        statuses.push(...answers.map((answer) => answer.status))
      }
      // Counted per process, none would be refused. A shared count that times out (a Redis
      // slower than the command timeout, on a loaded machine) falls back to the process's own
      // count for that moment: a few may slip through, never the whole allowance again.
      const passed = statuses.filter((status) => status === 200).length
      expect(passed).toBeGreaterThanOrEqual(600)
      expect(passed).toBeLessThanOrEqual(615)
      expect(statuses.filter((status) => status !== 200).every((status) => status === 429)).toBe(
        true,
      )
    })

    it('an Idempotency-Key replays the first answer whichever process gets the retry', async () => {
      const user = await newUser()
      const key = `multi-${randomBytes(8).toString('hex')}`
      const create = () =>
        call('POST', '/api/v1/todos', {
          token: user.accessToken,
          body: { title: 'once only' },
          headers: { 'idempotency-key': key },
        })
      const first = await create()
      expect(first.status).toBe(201)
      for (let i = 0; i < 6; i++) {
        const again = await create()
        expect(again.status).toBe(201)
        expect(again.body.id).toBe(first.body.id)
      }
      // Sent at once to several processes: one creates, the others replay it or say it is
      // still in progress (409); never a second todo.
      const concurrentKey = `multi-${randomBytes(8).toString('hex')}`
      const answers = await Promise.all(
        Array.from({ length: 6 }, () =>
          call('POST', '/api/v1/todos', {
            token: user.accessToken,
            body: { title: 'once at once' },
            headers: { 'idempotency-key': concurrentKey },
          }),
        ),
      )
      const statuses = answers.map((answer) => answer.status)
      expect(
        statuses.every((status) => status === 201 || status === 409),
        String(statuses),
      ).toBe(true)
      expect(new Set(answers.filter((a) => a.status === 201).map((a) => a.body.id)).size).toBe(1)
      const list = await call('GET', '/api/v1/todos', { token: user.accessToken })
      const items = list.body.items as { title: string }[]
      expect(items.filter((todo) => todo.title === 'once only')).toHaveLength(1)
      expect(items.filter((todo) => todo.title === 'once at once')).toHaveLength(1)
    })

    it('the outbox sends each mail once: sign-up confirmations and a campaign', async () => {
      const tag = randomBytes(4).toString('hex')
      const { smtp } = started()
      const before = smtp.mails.length
      const pending = Array.from({ length: 9 }, (_, i) => `pending-${tag}-${i}@example.com`)
      for (const email of pending) {
        const answer = await call('POST', '/api/v1/subscribers', {
          body: { name: 'Pending', email },
          headers: { 'x-forwarded-for': newClient() },
        })
        expect(answer.status).toBe(202)
      }
      const confirmed = Array.from({ length: 30 }, (_, i) => `reader-${tag}-${i}@example.com`)
      const imported = await call('POST', '/api/v1/subscribers/import', {
        token: admin.accessToken,
        body: confirmed.map((email) => ({ name: 'Reader', email })),
      })
      expect(imported.status, JSON.stringify(imported.body)).toBe(200)
      const campaign = await call('POST', '/api/v1/campaigns', {
        token: admin.accessToken,
        body: { subject: `News ${tag}`, text: 'Once each.' },
      })
      expect(campaign.status).toBe(201)
      const sent = await call('POST', `/api/v1/campaigns/${campaign.body.id}/send`, {
        token: admin.accessToken,
      })
      expect(sent.status).toBe(202)

      const deadline = Date.now() + 20_000
      let status = ''
      while (status !== 'sent' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        status = String(
          (await call('GET', `/api/v1/campaigns/${campaign.body.id}`, { token: admin.accessToken }))
            .body.status,
        )
      }
      expect(status).toBe('sent')
      await smtp.waitFor(before + pending.length + confirmed.length, 20_000)
      // Anything sent twice would arrive within this moment too.
      await new Promise((resolve) => setTimeout(resolve, 500))
      const received = smtp.mails.slice(before).flatMap((mail) => mail.to)
      const mine = received.filter((to) => to.includes(tag)).sort()
      expect(mine).toEqual([...pending, ...confirmed].sort())
    })
  })
}
