import { connect, type Socket } from 'node:net'
import { describe, expect, it } from 'vitest'
import { listen, sleep } from '../../test/auth.js'
import { buildTestApp } from '../../test/helpers.js'
import { SLOW_CLIENT_LIMITS } from './slow-clients.js'

interface Answer {
  status: number
  reason: string
  headers: Record<string, string>
  body: string
}

interface Exchange {
  answers: Answer[]
  /** How the connection ended: the server closed it cleanly, reset it, or it is still open. */
  ended: 'closed' | 'reset' | 'open'
  /** Milliseconds from the first byte sent to the end of the last answer. */
  answeredAfter: number
}

/** Every complete response in `raw`, in order (bodies are read by Content-Length). */
function parseAnswers(raw: string): Answer[] {
  const answers: Answer[] = []
  let rest = raw
  for (;;) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) return answers
    const [statusLine = '', ...lines] = rest.slice(0, end).split('\r\n')
    const match = /^HTTP\/1\.1 (\d{3}) (.*)$/.exec(statusLine)
    if (match === null) throw new Error(`not a status line: ${statusLine}`)
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
    }
    const length = Number(headers['content-length'] ?? 0)
    if (rest.length < end + 4 + length) return answers
    answers.push({
      status: Number(match[1]),
      reason: match[2] ?? '',
      headers,
      body: rest.slice(end + 4, end + 4 + length),
    })
    rest = rest.slice(end + 4 + length)
  }
}

/**
 * Talks raw HTTP/1.1 over one connection: `send` writes what it likes (a request in pieces, with
 * pauses); then waits until the server closes the connection or `waitMs` pass, and reports
 * every answer and how the connection ended. The client never closes first.
 */
async function exchange(
  port: number,
  send: (socket: Socket) => Promise<void>,
  waitMs = 3000,
): Promise<Exchange> {
  const socket = connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  let raw = ''
  let lastData = 0
  const started = Date.now()
  const ended = new Promise<'closed' | 'reset'>((resolve) => {
    socket.on('data', (chunk) => {
      raw += chunk.toString('latin1')
      lastData = Date.now()
    })
    socket.on('error', () => resolve('reset'))
    socket.on('end', () => resolve('closed'))
  })
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  const sending = send(socket).catch(() => undefined)
  const how = await Promise.race([ended, sleep(waitMs).then(() => 'open' as const)])
  socket.destroy()
  await sending
  return { answers: parseAnswers(raw), ended: how, answeredAfter: lastData - started }
}

/** Writes `body` a byte at a time, one every `everyMs`, until the socket closes or it is sent. */
async function trickle(socket: Socket, body: string, everyMs: number): Promise<void> {
  for (const byte of body) {
    if (socket.destroyed || !socket.writable) return
    socket.write(byte)
    await sleep(everyMs)
  }
}

function expectRefusal(answer: Answer | undefined, status: number, title: string): void {
  expect(answer?.status).toBe(status)
  expect(answer?.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(answer?.headers['x-content-type-options']).toBe('nosniff')
  const body = JSON.parse(answer?.body ?? '{}') as Record<string, unknown>
  expect(body).toMatchObject({ status, title })
  expect(typeof body.type).toBe('string')
  expect(typeof body.detail).toBe('string')
  expect(typeof body.code).toBe('string')
}

// Small limits, so that slow clients are refused in well under a second (the contract's are
// 30 s; the last test checks those are the defaults).
const LIMITS = { headersMs: 500, bodyGraceMs: 400, minBodyBytesPerSecond: 1024 }

describe("the server's own refusals, over a real socket", async () => {
  const { app } = await buildTestApp({}, { slowClients: LIMITS })
  const port = Number(new URL(await listen(app)).port)
  const get = (path: string, headers = 'Host: gatehouse\r\n') =>
    `GET ${path} HTTP/1.1\r\n${headers}\r\n`

  it('headers too large: 431 problem+json with Connection: close, then a clean close', async () => {
    const result = await exchange(port, async (socket) => {
      socket.write(get('/api/v1/public', `Host: gatehouse\r\nX-Big: ${'a'.repeat(20_000)}\r\n`))
    })
    expect(result.answers).toHaveLength(1)
    expectRefusal(result.answers[0], 431, 'Request header fields too large')
    expect(result.answers[0]?.headers.connection).toBe('close')
    expect(result.ended).toBe('closed')
  })

  it('a URI too long: 414 problem+json with Connection: close, then a clean close', async () => {
    const result = await exchange(port, async (socket) => {
      socket.write(get(`/api/v1/public?q=${'a'.repeat(20_000)}`))
    })
    expectRefusal(result.answers[0], 414, 'URI too long')
    expect(result.answers[0]?.headers.connection).toBe('close')
    expect(result.ended).toBe('closed')
  })

  it('a path segment over the router limit is 414 titled "URI too long"', async () => {
    const result = await exchange(
      port,
      async (socket) => {
        socket.write(get(`/api/v1/users/${'a'.repeat(3000)}`))
      },
      500,
    )
    expectRefusal(result.answers[0], 414, 'URI too long')
  })

  it("a keep-alive client's oversized next request gets its 431, not a reset", async () => {
    const result = await exchange(port, async (socket) => {
      socket.write(get('/api/v1/public'))
      await sleep(100)
      socket.write(get('/api/v1/public', `Host: gatehouse\r\nCookie: ${'c'.repeat(20_000)}\r\n`))
    })
    expect(result.answers.map((answer) => answer.status)).toEqual([200, 431])
    expectRefusal(result.answers[1], 431, 'Request header fields too large')
    expect(result.answers[1]?.headers.connection).toBe('close')
    expect(result.ended).toBe('closed')
  })

  it('two Host headers, or none in HTTP/1.1, are a 400 problem (RFC 9112 §3.2)', async () => {
    const twice = await exchange(
      port,
      async (socket) => {
        socket.write(get('/api/v1/public', 'Host: gatehouse\r\nHost: elsewhere.example\r\n'))
      },
      500,
    )
    expectRefusal(twice.answers[0], 400, 'Bad request')
    const none = await exchange(
      port,
      async (socket) => {
        socket.write('GET /api/v1/public HTTP/1.1\r\n\r\n')
      },
      500,
    )
    expectRefusal(none.answers[0], 400, 'Bad request')
    // HTTP/1.0 has no such rule.
    const old = await exchange(
      port,
      async (socket) => {
        socket.write('GET /api/v1/public HTTP/1.0\r\n\r\n')
      },
      500,
    )
    expect(old.answers[0]?.status).toBe(200)
  })

  it('headers not complete in time: 408 problem+json with Connection: close', async () => {
    const result = await exchange(port, async (socket) => {
      socket.write('GET /api/v1/public HTTP/1.1\r\nHost: gatehouse\r\n')
      await trickle(socket, 'X-Slow: header\r\n', 200)
    })
    expectRefusal(result.answers[0], 408, 'Request timeout')
    expect(result.answers[0]?.headers.connection).toBe('close')
    expect(result.ended).toBe('closed')
    // At the limit (500 ms), give or take Node's check every 125 ms.
    expect(result.answeredAfter).toBeLessThan(1500)
  })

  const slowPost = (path: string) => async (socket: Socket) => {
    const body = JSON.stringify({ username: 'someone', password: 'x'.repeat(200) })
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\n\r\n`,
    )
    // About 20 bytes a second, far under 1 KB/s.
    await trickle(socket, body, 50)
  }

  it('a body arriving too slowly: 408 problem+json with Connection: close', async () => {
    const result = await exchange(port, slowPost('/api/v1/auth/login'))
    expect(result.answers).toHaveLength(1)
    expectRefusal(result.answers[0], 408, 'Request timeout')
    expect(result.answers[0]?.headers.connection).toBe('close')
    expect(result.ended).toBe('closed')
    expect(result.answeredAfter).toBeLessThan(1500)
  })

  it('a slow body to an unknown path is refused the same way', async () => {
    const result = await exchange(port, slowPost('/nowhere'))
    expectRefusal(result.answers[0], 408, 'Request timeout')
    expect(result.ended).toBe('closed')
  })

  it('a slow body that nothing reads does not keep the connection open', async () => {
    // A GET's body is never read: answered at once, the connection is dropped once the body
    // has been too slow for the grace period.
    const result = await exchange(port, async (socket) => {
      socket.write('GET /api/v1/public HTTP/1.1\r\nHost: gatehouse\r\nContent-Length: 1000\r\n\r\n')
      await trickle(socket, 'x'.repeat(1000), 50)
    })
    expect(result.answers.map((answer) => answer.status)).toEqual([200])
    expect(result.ended).not.toBe('open')
  })

  it('a body that keeps a good rate past the grace period is served', async () => {
    const body = JSON.stringify({ username: 'someone', password: 'x'.repeat(1600) })
    const result = await exchange(
      port,
      async (socket) => {
        socket.write(
          'POST /api/v1/auth/login HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\n' +
            `Content-Length: ${body.length}\r\n\r\n`,
        )
        // 200 bytes every 100 ms: 2 KB/s for 0.8 s, twice the grace period.
        for (let at = 0; at < body.length; at += 200) {
          socket.write(body.slice(at, at + 200))
          await sleep(100)
        }
      },
      1500,
    )
    // Read whole and judged: no such user.
    expect(result.answers[0]?.status).toBe(401)
  })
})

describe('slow-client limits by default', async () => {
  const { app } = await buildTestApp()

  it("are the contract's: headers in 30 s, a body at 1 KB/s once 30 s have passed", () => {
    expect(SLOW_CLIENT_LIMITS).toEqual({
      headersMs: 30_000,
      bodyGraceMs: 30_000,
      minBodyBytesPerSecond: 1024,
    })
    expect(app.server.headersTimeout).toBe(30_000)
    expect(app.server.keepAliveTimeout).toBe(72_000)
    expect(app.server.timeout).toBe(120_000)
    expect(app.server.requestTimeout).toBe(0)
  })
})
