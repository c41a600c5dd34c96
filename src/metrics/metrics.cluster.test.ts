import { spawn } from 'node:child_process'
import { request } from 'node:http'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { onTestDatabase } from '../../test/database.js'
import { ADMIN_ENV, basicAuth, removeDir, tempDir } from '../../test/process.js'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

const FIXTURE = path.resolve(HERE, '../../test/fixtures/metrics-cluster.js')

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })

/** One GET on a connection of its own, so the cluster hands each to a worker in turn. */
const get = (url: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    request(url, { agent: false, headers }, (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk
      })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }))
    })
      .on('error', reject)
      .end()
  })

describe('GET /metrics with two cluster workers', async () => {
  const dir = tempDir()
  const port = await freePort()
  const env = await onTestDatabase(
    {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PORT: String(port),
      DATABASE_URL: `sqlite:${path.join(dir, 'cluster.db')}`,
      DATA_DIR: dir,
      RATE_LIMIT: 'false',
      LOG_LEVEL: 'silent',
      ...ADMIN_ENV,
    },
    dir,
  )
  const primary = spawn(process.execPath, [FIXTURE], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  primary.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  primary.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cluster not ready:\n${output}`)), 30_000)
    primary.stdout?.on('data', () => {
      if (output.includes('ready ')) {
        clearTimeout(timer)
        resolve()
      }
    })
    primary.on('exit', () => reject(new Error(`cluster exited:\n${output}`)))
  })
  afterAll(() => {
    primary.kill('SIGTERM')
    removeDir(dir)
  })
  const base = `http://127.0.0.1:${port}`
  const admin = { authorization: basicAuth(ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD) }

  it('counts the requests every worker answered, whichever worker is scraped', async () => {
    const requests = 20
    for (let i = 0; i < requests; i++) expect((await get(`${base}/api/v1/public`)).status).toBe(200)
    const pattern =
      /^http_requests_total\{method="GET",route="\/api\/v1\/public",status="200"\} (\d+)$/m
    // Scrapes land on either worker; each answers for both.
    for (let scrape = 0; scrape < 4; scrape++) {
      const answer = await get(`${base}/metrics`, admin)
      expect(answer.status, answer.body).toBe(200)
      expect(pattern.exec(answer.body)?.[1]).toBe(String(requests))
      // Both workers' runtimes are in it: prom-client sums the memory of both.
      expect(answer.body).toMatch(/^process_resident_memory_bytes \d+/m)
      // The outbox is read by each worker from the one database: the highest, not the sum.
      expect(answer.body).toMatch(/^gatehouse_outbox_messages\{status="pending"\} 0$/m)
    }
  })
})
