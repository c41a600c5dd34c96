import { request } from 'node:http'
import { connect } from 'node:net'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  ADMIN_ENV,
  removeDir,
  type ServerProcess,
  sleep,
  startServer,
  tempDir,
} from '../../test/process.js'

const dirs: string[] = []
const servers: ServerProcess[] = []
afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop('SIGKILL')))
  for (const dir of dirs) removeDir(dir)
})

interface Answer {
  status: number
  body: string
}

/**
 * A login whose body is sent in two parts: the server has the request (headers read) before
 * `finish()` sends the rest, so it is in flight for as long as the test wants.
 */
function slowLogin(port: number) {
  const body = JSON.stringify({
    username: ADMIN_ENV.ADMIN_USERNAME,
    password: ADMIN_ENV.ADMIN_PASSWORD,
  })
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/api/v1/auth/login',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  })
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => {
        text += chunk
      })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
  })
  req.flushHeaders()
  req.write(body.slice(0, 10))
  return {
    answer,
    finish: () => req.end(body.slice(10)),
  }
}

/** A fresh connection's request; resolves with the error code when the connection is refused. */
function freshRequest(port: number): Promise<Answer | { error: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false })
    req.on('response', (response) => {
      response.resume()
      resolve({ status: response.statusCode ?? 0, body: '' })
    })
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? 'error' }))
    req.end()
  })
}

/** Raw HTTP/1.1 responses in the order received: status, lower-cased headers, body. */
function parseResponses(raw: string): { status: number; headers: Map<string, string> }[] {
  return raw
    .split(/(?=HTTP\/1\.1 \d{3})/)
    .filter((part) => part.startsWith('HTTP/1.1'))
    .map((part) => {
      const [head = ''] = part.split('\r\n\r\n')
      const [statusLine = '', ...headerLines] = head.split('\r\n')
      const headers = new Map<string, string>()
      for (const line of headerLines) {
        const colon = line.indexOf(':')
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
      }
      return { status: Number(statusLine.split(' ')[1]), headers }
    })
}

describe('graceful shutdown', () => {
  it('SIGTERM finishes in-flight requests, refuses new connections and exits 0', async () => {
    const dataDir = tempDir('gatehouse-shutdown-')
    dirs.push(dataDir)
    const server = await startServer(
      {
        DATABASE_URL: `sqlite:${path.join(dataDir, 'gatehouse.db')}`,
        RATE_LIMIT: 'false',
        ...ADMIN_ENV,
      },
      dataDir,
    )
    servers.push(server)

    const inFlight = [slowLogin(server.port), slowLogin(server.port), slowLogin(server.port)]
    // Give the server time to accept the connections and read the request heads.
    await sleep(300)
    server.child.kill('SIGTERM')
    await sleep(300)
    expect(server.child.exitCode).toBeNull()

    // No new connections while the in-flight requests finish.
    const refused = await freshRequest(server.port)
    expect(refused).toEqual({ error: 'ECONNREFUSED' })

    for (const login of inFlight) login.finish()
    const answers = await Promise.all(inFlight.map((login) => login.answer))
    for (const answer of answers) {
      expect(answer.status).toBe(200)
      expect(JSON.parse(answer.body)).toMatchObject({ token_type: 'Bearer' })
    }
    const exit = await server.exited
    expect(exit).toEqual({ code: 0, signal: null })
  })
  it('a request arriving on a busy kept-alive connection while draining gets a problem+json 503', async () => {
    const dataDir = tempDir('gatehouse-drain-')
    dirs.push(dataDir)
    const server = await startServer(
      {
        DATABASE_URL: `sqlite:${path.join(dataDir, 'gatehouse.db')}`,
        RATE_LIMIT: 'false',
        ...ADMIN_ENV,
      },
      dataDir,
    )
    servers.push(server)
    const body = JSON.stringify({
      username: ADMIN_ENV.ADMIN_USERNAME,
      password: ADMIN_ENV.ADMIN_PASSWORD,
    })
    const socket = connect(server.port, '127.0.0.1')
    let received = ''
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      received += chunk
    })
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
    socket.write(
      `POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 5)}`,
    )
    await sleep(300)
    server.child.kill('SIGTERM')
    await sleep(300)
    // The rest of the login, then a second request pipelined on the same connection.
    socket.write(`${body.slice(5)}GET /api/v1/public HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    await closed
    const [login, late] = parseResponses(received)
    expect(login?.status).toBe(200)
    expect(late?.status).toBe(503)
    expect(late?.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(late?.headers.get('x-content-type-options')).toBe('nosniff')
    expect(late?.headers.get('connection')).toBe('close')
    expect(await server.exited).toEqual({ code: 0, signal: null })
  })
})
