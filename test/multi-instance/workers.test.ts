import { request } from 'node:http'
import path from 'node:path'
import { describe } from 'vitest'
import { onPostgres, skipSuite } from '../database.js'
import { ADMIN_ENV, removeDir, sleep, startServer, tempDir } from '../process.js'
import { startSmtpServer } from '../smtp.js'
import { describeMultiProcessContract, type Service } from './contract.js'

/**
 * The contract of API.md §12 that three instances behind nginx pass (nginx.test.ts), run against
 * WORKERS=2 on one SQLite file without Redis: the cluster primary counts the limits, the change
 * journal carries logouts, revocations, demotions and disabling between the processes. SQLite
 * only: on PostgreSQL the workers are instances on one database, which nginx.test.ts covers.
 */

/** fetch on a new connection each time, so the primary hands requests to both workers in turn. */
const freshConnectionFetch: typeof fetch = (input, init = {}) =>
  new Promise((resolve, reject) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
    const req = request(url, {
      method: init.method ?? 'GET',
      headers: init.headers as Record<string, string> | undefined,
      agent: false,
    })
    req.on('response', (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        const headers = new Headers()
        for (const [name, value] of Object.entries(response.headers)) {
          for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
            headers.append(name, one)
          }
        }
        const status = response.statusCode ?? 0
        const body = status === 204 || status === 304 ? null : Buffer.concat(chunks)
        resolve(new Response(body, { status, headers }))
      })
    })
    req.on('error', reject)
    req.end(typeof init.body === 'string' ? init.body : undefined)
  })

async function workers(): Promise<Service> {
  const dir = tempDir('gatehouse-workers-')
  const smtp = await startSmtpServer()
  const server = await startServer(
    {
      ...ADMIN_ENV,
      WORKERS: '2',
      DATABASE_URL: `sqlite:${path.join(dir, 'gatehouse.db')}`,
      DATA_DIR: dir,
      SMTP_URL: smtp.url,
      TRUSTED_PROXIES: '127.0.0.1',
    },
    dir,
    60_000,
  )
  // Ready means one worker listens; the checks want both.
  const listening = () =>
    server.logLines().filter((line) => String(line.msg).startsWith('Server listening')).length
  while (listening() < 2) await sleep(50)
  return {
    baseUrl: server.url,
    smtp,
    fetch: freshConnectionFetch,
    requestsPerProcess: () => {
      const byPid = new Map<unknown, number>()
      for (const line of server.logLines()) {
        if (line.msg === 'request') byPid.set(line.pid, (byPid.get(line.pid) ?? 0) + 1)
      }
      return [...byPid.values()]
    },
    async stop() {
      await server.stop()
      await smtp.close()
      removeDir(dir)
    },
  }
}

describe('WORKERS=2 on one SQLite file, without Redis', () => {
  if (skipSuite(onPostgres, 'SQLite only: on PostgreSQL nginx.test.ts covers instances')) return
  describeMultiProcessContract('API.md §12 across two worker processes', workers)
})
