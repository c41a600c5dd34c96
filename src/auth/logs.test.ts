import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { TokenPair } from '../../test/auth.js'
import { onTestDatabase } from '../../test/database.js'
import { ADMIN, basic, bearer, json, PASSWORD } from '../../test/helpers.js'
import { buildApp } from '../app.js'
import { loadConfig } from '../core/config.js'

/** API.md §2: a password hash, refresh token or secret never appears in a log line. */
describe('log lines carry no secrets', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-logs-'))
  const lines: string[] = []
  const app = await buildApp(
    loadConfig(
      await onTestDatabase({
        DATABASE_URL: `sqlite:${path.join(dataDir, 'test.db')}`,
        RATE_LIMIT: 'false',
        ALLOW_QUERY_TOKEN: 'true',
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

  const username = `log${process.pid}`
  await app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: { username, password: PASSWORD, name: 'Logged' },
  })
  const pair = json<TokenPair>(
    await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username, password: PASSWORD },
    }),
  )
  await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username, password: `${PASSWORD}x` },
  })
  const refreshed = json<TokenPair>(
    await app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: pair.refresh_token },
    }),
  )
  const key = json<{ key: string }>(
    await app.inject({
      method: 'POST',
      url: '/api/v1/profile/api-keys',
      headers: bearer(refreshed.access_token),
      payload: { name: 'k' },
    }),
  ).key
  await app.inject({ url: `/api/v1/private?access_token=${refreshed.access_token}` })
  await app.inject({ url: `/api/v1/private?access_token=${refreshed.access_token}x` })
  await app.inject({ url: '/api/v1/private', headers: basic(username, PASSWORD) })
  await app.inject({ url: '/api/v1/private', headers: bearer(key) })
  await app.inject({
    method: 'POST',
    url: '/api/v1/profile/password',
    headers: bearer(refreshed.access_token),
    payload: { current_password: PASSWORD, new_password: 'password1234' },
  })
  await app.inject({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    payload: { refresh_token: pair.refresh_token },
  })

  it('logged the requests (sanity)', () => {
    expect(lines.some((line) => line.includes('/api/v1/auth/login'))).toBe(true)
    expect(lines.some((line) => line.includes('/api/v1/private'))).toBe(true)
  })

  it('no line holds a password, hash, access or refresh token, API key or Basic credentials', () => {
    const log = lines.join('')
    const basicCredentials = basic(username, PASSWORD).authorization?.slice('Basic '.length) ?? ''
    for (const secret of [
      PASSWORD,
      pair.access_token,
      pair.refresh_token,
      refreshed.access_token,
      refreshed.refresh_token,
      // The signature alone is enough to flag a logged token.
      String(refreshed.access_token.split('.')[2]),
      key,
      basicCredentials,
      '$argon2',
    ]) {
      expect(log.includes(secret), `${secret.slice(0, 8)}… in the log`).toBe(false)
    }
  })
})
