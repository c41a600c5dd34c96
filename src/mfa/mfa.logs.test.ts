import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { onTestDatabase } from '../../test/database.js'
import { ADMIN, bearer, json, login, PASSWORD } from '../../test/helpers.js'
import { freshStep, totpCode } from '../../test/totp.js'
import { buildApp } from '../app.js'
import { loadConfig } from '../core/config.js'

/** API.md §10: the TOTP secret (and the recovery codes, the mfa_token) never reach a log line. */
describe('two-factor secrets are in no log line', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-mfa-logs-'))
  const lines: string[] = []
  const app = await buildApp(
    loadConfig(
      await onTestDatabase({
        DATABASE_URL: `sqlite:${path.join(dataDir, 'test.db')}`,
        RATE_LIMIT: 'false',
        ADMIN_USERNAME: ADMIN.username,
        ADMIN_PASSWORD: ADMIN.password,
        LOG_LEVEL: 'trace',
      }),
    ),
    { logStream: { write: (line: string) => void lines.push(line) } },
  )
  await app.ready()
  afterAll(async () => {
    await app.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  const username = `mfalog${process.pid}`
  await app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: { username, password: PASSWORD, name: 'Logged' },
  })
  const session = await login(app, username, PASSWORD)
  await freshStep()
  const setUp = json<{ secret: string; otpauth_uri: string }>(
    await app.inject({
      method: 'POST',
      url: '/api/v1/profile/mfa/totp',
      headers: session.headers,
      payload: { password: PASSWORD },
    }),
  )
  const confirmed = await app.inject({
    method: 'POST',
    url: '/api/v1/profile/mfa/totp/confirm',
    headers: session.headers,
    payload: { code: totpCode(setUp.secret) },
  })
  const codes = json<{ recovery_codes: string[] }>(confirmed).recovery_codes
  const challenge = json<{ mfa_token: string }>(
    await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username, password: PASSWORD },
    }),
  )
  await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login/mfa',
    payload: { mfa_token: challenge.mfa_token, code: '000000' },
  })
  const pair = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login/mfa',
    payload: { mfa_token: challenge.mfa_token, code: String(codes[0]) },
  })
  await app.inject({
    url: '/api/v1/profile',
    headers: bearer(json<{ access_token: string }>(pair).access_token),
  })

  it('logged the requests (sanity)', () => {
    expect(confirmed.statusCode).toBe(200)
    expect(pair.statusCode).toBe(200)
    expect(lines.some((line) => line.includes('/api/v1/auth/login/mfa'))).toBe(true)
  })

  it('no line holds the secret, its URI, a recovery code or the mfa_token', () => {
    const log = lines.join('')
    for (const secret of [setUp.secret, setUp.otpauth_uri, challenge.mfa_token, ...codes]) {
      expect(log.includes(secret), `${secret.slice(0, 8)}… in the log`).toBe(false)
    }
  })
})
