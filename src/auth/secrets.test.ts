import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import type { TokenPair } from '../../test/auth.js'
import { onPostgres } from '../../test/database.js'
import { basic, bearer, buildTestApp, json, loginAdmin, PASSWORD } from '../../test/helpers.js'

/** Secrets never leave: not in a response body (but the token endpoints'), not at rest in clear. */
describe('secrets never leave', async () => {
  const { app, dataDir } = await buildTestApp()
  const seen: { url: string; response: LightMyRequestResponse }[] = []
  const call = async (options: InjectOptions & { url: string }) => {
    const response = await app.inject(options)
    seen.push({ url: options.url, response })
    return response
  }

  const username = `sec${process.pid}`
  const NEW_PASSWORD = 'the secret new password 42'
  const admin = await loginAdmin(app)

  const registration = { username, password: PASSWORD, name: 'Secretive' }
  await call({
    method: 'POST',
    url: '/api/v1/auth/register',
    headers: { 'idempotency-key': 'register-1' },
    payload: registration,
  })
  const loginResponse = await call({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username, password: PASSWORD },
  })
  const first = json<TokenPair>(loginResponse)
  const refreshed = json<TokenPair>(
    await call({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: first.refresh_token },
    }),
  )
  const headers = bearer(refreshed.access_token)
  const keyResponse = await call({
    method: 'POST',
    url: '/api/v1/profile/api-keys',
    headers: { ...headers, 'idempotency-key': 'create-key-1' },
    payload: { name: 'k' },
  })
  const apiKey = json<{ key: string }>(keyResponse).key
  // The same request again (a client retry).
  const replay = await app.inject({
    method: 'POST',
    url: '/api/v1/profile/api-keys',
    headers: { ...headers, 'idempotency-key': 'create-key-1' },
    payload: { name: 'k' },
  })
  await call({ url: '/api/v1/profile', headers })
  await call({ url: '/api/v1/profile', headers: basic(username, PASSWORD) })
  await call({ method: 'PATCH', url: '/api/v1/profile', headers, payload: { name: 'S' } })
  await call({ url: '/api/v1/profile/sessions', headers })
  await call({ url: '/api/v1/profile/api-keys', headers })
  await call({ url: '/api/v1/private', headers: bearer(apiKey) })
  await call({ url: '/api/v1/users?limit=100', headers: admin.headers })
  await call({ url: '/api/v1/users?q=sec', headers: admin.headers })
  await call({
    method: 'POST',
    url: '/api/v1/profile/password',
    headers,
    payload: { current_password: PASSWORD, new_password: NEW_PASSWORD },
  })
  // Failures that carry the secret in the request.
  await call({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username, password: PASSWORD },
  })
  await call({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: { username: 'Bad Name', password: 'short!', name: 'x' },
  })
  await call({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: { username, password: NEW_PASSWORD, name: 'x', extra: NEW_PASSWORD },
  })
  await call({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    payload: { refresh_token: first.refresh_token },
  })
  await call({
    method: 'POST',
    url: '/api/v1/profile/password',
    headers,
    payload: { current_password: 'wrong current', new_password: 'password1234' },
  })
  await call({ url: '/api/v1/private', headers: bearer(`${refreshed.access_token}x`) })
  await call({ url: '/api/v1/audit?limit=100', headers: admin.headers })
  await call({ method: 'POST', url: '/api/v1/auth/logout', headers })

  const tokenEndpoint = (url: string) =>
    url === '/api/v1/auth/login' || url === '/api/v1/auth/refresh'
  const userRow = seen.find((s) => s.url === '/api/v1/users?limit=100')

  it('collected the story (sanity)', () => {
    expect(loginResponse.statusCode).toBe(200)
    expect(keyResponse.statusCode).toBe(201)
    expect(userRow?.response.body).toContain(username)
    expect(seen.length).toBeGreaterThan(15)
  })

  it('no response body contains a password hash or a password', () => {
    for (const { url, response } of seen) {
      expect(response.body, url).not.toContain('$argon2')
      expect(response.body, url).not.toContain(PASSWORD)
      expect(response.body, url).not.toContain(NEW_PASSWORD)
    }
  })

  it('no response but the token endpoints’ contains a refresh token', () => {
    for (const { url, response } of seen) {
      if (tokenEndpoint(url)) continue
      expect(response.body, url).not.toContain(first.refresh_token)
      expect(response.body, url).not.toContain(refreshed.refresh_token)
    }
  })

  it('the API key is in its creation response only', () => {
    for (const { url, response } of seen) {
      if (response === keyResponse) continue
      expect(response.body, url).not.toContain(apiKey)
    }
    // A retry with the same Idempotency-Key creates nothing new.
    expect(replay.statusCode).toBe(201)
    expect(json<{ id: string }>(replay).id).toBe(json<{ id: string }>(keyResponse).id)
  })

  it('at rest: no password, refresh token or API key is stored in clear', async ({ skip }) => {
    skip(onPostgres, 'SQLite only: it reads the SQLite file')
    // Let the WAL and the database file hold everything written so far.
    const files = readdirSync(dataDir).filter((f) => f.startsWith('test.db'))
    expect(files.length).toBeGreaterThan(0)
    const bytes = Buffer.concat(files.map((f) => readFileSync(path.join(dataDir, f))))
    // Nor a fast unsalted hash of a body holding the password (offline guessing would be cheap).
    for (const digest of ['base64url', 'hex', 'base64'] as const) {
      for (const input of [
        `POST /api/v1/auth/register\n${JSON.stringify(registration)}`,
        JSON.stringify(registration),
      ]) {
        const hash = createHash('sha256').update(input).digest(digest)
        expect(bytes.includes(Buffer.from(hash)), `sha256 ${digest} of the body`).toBe(false)
      }
    }
    for (const secret of [
      PASSWORD,
      NEW_PASSWORD,
      first.refresh_token,
      refreshed.refresh_token,
      apiKey,
    ]) {
      expect(bytes.includes(Buffer.from(secret)), `${secret.slice(0, 6)}… stored in clear`).toBe(
        false,
      )
    }
  })
})
