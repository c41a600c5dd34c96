import { existsSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { onPostgres, skipSuite } from '../../test/database.js'
import { removeDir, runToExit, startServer, tempDir } from '../../test/process.js'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) removeDir(dir)
})
function emptyCwd(): string {
  const dir = tempDir('gatehouse-config-')
  dirs.push(dir)
  return dir
}

// Each bad value must stop start-up with one stderr line naming the variable, before anything is
// written: the working directory stays empty (no ./data/, no database, no key).
const BAD_VALUES: [variable: string, value: string][] = [
  ['PORT', 'abc'],
  ['PORT', '70000'],
  ['PORT', '-1'],
  ['HOST', '999.1.1.1'],
  ['HOST', 'not a host'],
  ['HOST', 'bad_host.example'],
  ['JWT_SECRET', 'x'.repeat(31)],
  ['JWT_ALGORITHM', 'RS256'],
  ['JWT_ALGORITHM', 'none'],
  ['DATABASE_URL', 'mysql://root@localhost/gatehouse'],
  ['DATABASE_URL', 'sqlite:'],
  ['ACCESS_TOKEN_TTL', '15m'],
  ['REFRESH_TOKEN_TTL', '0'],
  ['PASSWORD_MIN_LENGTH', '7'],
  ['PASSWORD_MIN_LENGTH', '65'],
  ['BODY_LIMIT', 'abc'],
  ['BODY_LIMIT', '1e6'],
  ['RATE_LIMIT', 'maybe'],
  ['ALLOW_QUERY_TOKEN', 'yes'],
  ['TRUSTED_PROXIES', 'not-an-ip'],
  ['TRUSTED_PROXIES', '10.0.0.0/33'],
  ['CORS_ORIGINS', 'foo'],
  ['CORS_ORIGINS', 'https://app.example/path'],
  ['REDIS_URL', 'http://localhost:6379'],
  ['SMTP_URL', 'mail.example.com'],
  ['PUBLIC_URL', 'ftp://example.com'],
  ['LOG_LEVEL', 'loud'],
  ['TODO_LIST_CACHE_MB', '-1'],
  ['TODO_LIST_CACHE_MB', '8MB'],
  ['WORKERS', '0'],
  ['WORKERS', 'two'],
  ['WORKERS', '-1'],
  ['WORKERS', '1.5'],
  ['WORKERS', '1025'],
  ['METRICS', 'off'],
]

describe('start-up with a bad setting', () => {
  if (skipSuite(onPostgres, 'no database: runs once, in the sqlite run')) return
  it.concurrent.each(BAD_VALUES)(
    '%s=%s exits non-zero with one line naming it and writes nothing',
    async (variable, value) => {
      const cwd = emptyCwd()
      const result = await runToExit({ [variable]: value }, cwd)
      expect(result.code).not.toBe(0)
      expect(result.code).not.toBeNull()
      const lines = result.stderr.split('\n').filter((line) => line.trim() !== '')
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain(variable)
      expect(result.stdout).toBe('')
      expect(readdirSync(cwd)).toEqual([])
    },
  )

  it('a credential in a bad URL is not echoed', async () => {
    const cwd = emptyCwd()
    const result = await runToExit({ SMTP_URL: 'smtp://mailer:hunter2-secret@mail:99999' }, cwd)
    expect(result.code).not.toBe(0)
    expect(result.stderr).toContain('SMTP_URL')
    expect(result.stderr).not.toContain('hunter2-secret')
    const redis = await runToExit({ REDIS_URL: 'redis://:hunter2-secret@cache:99999' }, cwd)
    expect(redis.stderr).toContain('REDIS_URL')
    expect(redis.stderr).not.toContain('hunter2-secret')
  })
})

describe('start-up that cannot listen', () => {
  if (skipSuite(onPostgres, 'no database needed: runs once, in the sqlite run')) return
  it('an address not on this machine: one line, exit non-zero, no stack trace', async () => {
    // TEST-NET-1 (RFC 5737): valid, but never an address of this machine.
    const result = await runToExit({ HOST: '192.0.2.1' }, emptyCwd())
    expect(result.code).toBe(1)
    const lines = result.stderr.split('\n').filter((line) => line.trim() !== '')
    expect(lines).toEqual([expect.stringMatching(/^gatehouse: could not start: .*192\.0\.2\.1/)])
    expect(result.stdout).not.toMatch(/"stack"/)
  })
})

describe('start-up that cannot reach its database', () => {
  if (skipSuite(onPostgres, 'no database: runs once, in the sqlite run')) return
  it('stops with one line, exit non-zero, and no credential in it', async () => {
    const cwd = emptyCwd()
    const result = await runToExit(
      { DATABASE_URL: 'postgres://gatehouse:pw-hunter2@127.0.0.1:1/gatehouse' },
      cwd,
      20_000,
    )
    expect(result.code).not.toBe(0)
    expect(result.code).not.toBeNull()
    const lines = result.stderr.split('\n').filter((line) => line.trim() !== '')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^gatehouse: could not start/)
    expect(result.stderr + result.stdout).not.toContain('pw-hunter2')
  })
})

describe('start-up with no configuration at all', () => {
  if (skipSuite(onPostgres, 'SQLite only: the default database is a file')) return
  it('creates ./data with the database and a private JWT secret, and becomes ready', async () => {
    const cwd = emptyCwd()
    const server = await startServer({}, cwd)
    try {
      const response = await fetch(`${server.url}/readyz`)
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ status: 'ready' })
      const data = path.join(cwd, 'data')
      expect(statSync(data).isDirectory()).toBe(true)
      expect(existsSync(path.join(data, 'gatehouse.db'))).toBe(true)
      const secret = statSync(path.join(data, 'jwt-secret'))
      expect(secret.mode & 0o777).toBe(0o600)
      expect(secret.size).toBeGreaterThanOrEqual(32)
    } finally {
      expect((await server.stop('SIGTERM')).code).toBe(0)
    }
  })
})
