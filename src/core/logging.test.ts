import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { postgresAvailable, tempDatabase } from '../../test/postgres.js'
import {
  ADMIN_ENV,
  basicAuth,
  postJson,
  removeDir,
  type ServerProcess,
  startServer,
  tempDir,
} from '../../test/process.js'

const dirs: string[] = []
const servers: ServerProcess[] = []
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop('SIGKILL')))
  for (const dir of dirs) removeDir(dir)
})

describe('request logs', () => {
  it('write exactly one JSON line per request and never a secret', async () => {
    const dataDir = tempDir('gatehouse-logs-')
    dirs.push(dataDir)
    const server = await startServer(
      {
        DATABASE_URL: `sqlite:${path.join(dataDir, 'gatehouse.db')}`,
        RATE_LIMIT: 'false',
        ALLOW_QUERY_TOKEN: 'true',
        LOG_LEVEL: 'info',
        ...ADMIN_ENV,
      },
      dataDir,
    )
    servers.push(server)
    const base = server.url
    const secrets: string[] = [ADMIN_ENV.ADMIN_PASSWORD]
    let sent = 0
    const send = async (response: Promise<Response>): Promise<{ status: number; text: string }> => {
      sent += 1
      const answer = await response
      return { status: answer.status, text: await answer.text() }
    }
    const sendJson = async <T>(
      response: Promise<Response>,
    ): Promise<{ status: number; body: T }> => {
      sent += 1
      const answer = await response
      return { status: answer.status, body: (await answer.json()) as T }
    }

    const password = 'log-secret-password-one'
    secrets.push(password)
    const registered = await send(
      postJson(`${base}/api/v1/auth/register`, { username: 'logger', password, name: 'L' }),
    )
    expect(registered.status).toBe(201)

    type Tokens = { access_token: string; refresh_token: string }
    const login = await sendJson<Tokens>(
      postJson(`${base}/api/v1/auth/login`, { username: 'logger', password }),
    )
    expect(login.status).toBe(200)
    const { access_token: access, refresh_token: refresh } = login.body
    secrets.push(access, access.split('.')[2] ?? access, refresh)

    const formLogin = await sendJson<Tokens>(
      fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: 'logger', password }).toString(),
      }),
    )
    expect(formLogin.status).toBe(200)
    secrets.push(formLogin.body.refresh_token, formLogin.body.access_token)

    const wrong = 'log-secret-wrong-password'
    secrets.push(wrong)
    expect(
      (await send(postJson(`${base}/api/v1/auth/login`, { username: 'logger', password: wrong })))
        .status,
    ).toBe(401)
    const malformed = 'log-secret-in-malformed-json'
    secrets.push(malformed)
    expect(
      (
        await send(
          fetch(`${base}/api/v1/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: `{"username":"logger","password":"${malformed}"`,
          }),
        )
      ).status,
    ).toBe(400)

    const basic = basicAuth('logger', password)
    secrets.push(basic.slice('Basic '.length))
    for (const authorization of [`Bearer ${access}`, `JWT ${access}`, basic]) {
      const response = await send(fetch(`${base}/api/v1/private`, { headers: { authorization } }))
      expect(response.status).toBe(200)
    }
    const queryToken = await send(fetch(`${base}/api/v1/private?access_token=${access}`))
    expect(queryToken.status).toBe(200)
    // The query parser decodes names too: an encoded name is the same parameter to the server.
    const encodedName = await send(fetch(`${base}/api/v1/private?access%5Ftoken=${access}`))
    expect(encodedName.status).toBe(200)
    const upper = await send(fetch(`${base}/api/v1/public?ACCESS_TOKEN=${access}&x=1`))
    expect(upper.status).toBe(200)
    const mailToken = 'log-secret-mail-link-token'
    secrets.push(mailToken)
    await send(fetch(`${base}/api/v1/public?x=1&token=${mailToken}`))
    await send(fetch(`${base}/unsubscribe/nowhere?token=${mailToken}&y=2`))
    await send(fetch(`${base}/api/v1/public?refresh_token=${refresh}`))
    // After a `;`: not a parameter to this server's parser, but one to many proxies and readers.
    await send(fetch(`${base}/api/v1/public?a=1;access_token=${access}`))
    await send(fetch(`${base}/api/v1/public?x=1&y=2;token=${mailToken};z=3`))
    // Not from a trusted proxy: the forwarded address is not believed (ip stays the socket's).
    await send(fetch(`${base}/api/v1/public`, { headers: { 'x-forwarded-for': '203.0.113.5' } }))
    const badUrl = await send(fetch(`${base}/api/v1/users/%E0%A4%A?token=${mailToken}`))
    expect(badUrl.status).toBe(400)

    const rotated = await sendJson<Tokens>(
      postJson(`${base}/api/v1/auth/refresh`, { refresh_token: refresh }),
    )
    expect(rotated.status).toBe(200)
    secrets.push(rotated.body.refresh_token, rotated.body.access_token)
    const reused = await send(postJson(`${base}/api/v1/auth/refresh`, { refresh_token: refresh }))
    expect(reused.status).toBe(401)
    const logout = await send(
      postJson(
        `${base}/api/v1/auth/logout`,
        { refresh_token: formLogin.body.refresh_token },
        { authorization: `Bearer ${formLogin.body.access_token}` },
      ),
    )
    expect(logout.status, logout.text).toBe(204)
    const changed = 'log-secret-new-password'
    secrets.push(changed)
    const passwordChange = await send(
      postJson(
        `${base}/api/v1/profile/password`,
        { current_password: password, new_password: changed },
        // The reuse above ended the rotated family, so Basic it is.
        { authorization: basic },
      ),
    )
    expect(passwordChange.status).toBe(204)

    expect((await server.stop('SIGTERM')).code).toBe(0)

    const output = server.stdout() + server.stderr()
    if (process.env.DEBUG_LOGS) console.log(output)
    for (const secret of secrets) {
      expect(output.includes(secret), `a secret appears in the logs: ${secret.slice(0, 12)}…`).toBe(
        false,
      )
    }

    // Every stdout line is JSON; each request (the start-up readiness probes aside) has
    // exactly one line, and no request writes a second one.
    const raw = server
      .stdout()
      .split('\n')
      .filter((line) => line !== '')
    for (const line of raw) expect(() => JSON.parse(line)).not.toThrow()
    const lines = server.logLines()
    const perRequest = new Map<string, number>()
    for (const line of lines) {
      if (typeof line.reqId === 'string') {
        perRequest.set(line.reqId, (perRequest.get(line.reqId) ?? 0) + 1)
      }
    }
    for (const [reqId, count] of perRequest) expect(count, reqId).toBe(1)
    const requests = lines.filter((line) => line.msg === 'request' && line.url !== '/readyz')
    expect(requests).toHaveLength(sent)
    for (const line of requests) {
      expect(line).toMatchObject({ method: expect.any(String), status: expect.any(Number) })
      expect(line.ip).toBe('127.0.0.1')
    }
  })
  it('log the forwarded client address only behind a trusted proxy', async () => {
    const dataDir = tempDir('gatehouse-logs-proxy-')
    dirs.push(dataDir)
    const server = await startServer(
      {
        DATABASE_URL: `sqlite:${path.join(dataDir, 'gatehouse.db')}`,
        TRUSTED_PROXIES: '127.0.0.1',
      },
      dataDir,
    )
    servers.push(server)
    const response = await fetch(`${server.url}/api/v1/public`, {
      headers: { 'x-forwarded-for': '198.51.100.23' },
    })
    expect(response.status).toBe(200)
    expect((await server.stop()).code).toBe(0)
    const line = server.logLines().find((entry) => entry.url === '/api/v1/public')
    expect(line?.ip).toBe('198.51.100.23')
  })
})

// A 500 needs a database that fails under a running server: PostgreSQL, dropped mid-run.
const postgres = await postgresAvailable()
describe.skipIf(!postgres)('request logs of a failure', async () => {
  const database = postgres ? await tempDatabase() : null

  it('a 500 is still one line (at error level), with no secret and no internals in the answer', async () => {
    const dataDir = tempDir('gatehouse-logs-500-')
    dirs.push(dataDir)
    const server = await startServer(
      { DATABASE_URL: String(database?.url), RATE_LIMIT: 'false', ...ADMIN_ENV },
      dataDir,
    )
    servers.push(server)
    await database?.drop()
    const secret = 'log-secret-during-outage'
    const response = await postJson(`${server.url}/api/v1/auth/login`, {
      username: 'root',
      password: secret,
    })
    expect(response.status).toBe(500)
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    const body = await response.text()
    expect(body).not.toMatch(/gatehouse_test_|does not exist|select|at .+\.js:\d+/i)
    // A 5xx that no handler threw is an error line too.
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503)
    await server.stop('SIGTERM')
    if (process.env.DEBUG_LOGS) console.log(server.stdout(), server.stderr())
    expect(server.stdout()).not.toContain(secret)
    const lines = server.logLines().filter((line) => line.url === '/api/v1/auth/login')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 50, status: 500 })
    expect(lines[0]?.err).toBeDefined()
    const reqId = lines[0]?.reqId
    expect(server.logLines().filter((line) => line.reqId === reqId)).toHaveLength(1)
    const readiness = server.logLines().filter((line) => line.url === '/readyz')
    expect(readiness.at(-1)).toMatchObject({ level: 50, status: 503 })
  })
})
