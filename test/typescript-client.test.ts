import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import {
  createGatehouseClient,
  type Problem,
  ProblemError,
  type Todo,
  type TokenPair,
  unwrap,
} from '../clients/typescript/src/index.js'
import { buildTestApp, PASSWORD } from './helpers.js'
import { freshStep, totpCode } from './totp.js'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

const CLIENT = path.resolve(HERE, '../clients/typescript')

/** The problem a call was refused with, or a failed expectation. */
async function refusal(pending: Promise<unknown>): Promise<ProblemError> {
  try {
    await pending
  } catch (error) {
    if (error instanceof ProblemError) return error
    throw error
  }
  throw new Error('expected a problem, got a success')
}

describe('the committed TypeScript client', async () => {
  const { app } = await buildTestApp()

  it('is generated from the document the server serves now (npm run client:generate)', async () => {
    const served = (await app.inject({ url: '/openapi.json' })).json()
    const committed = JSON.parse(readFileSync(path.join(CLIENT, 'openapi.json'), 'utf8'))
    expect(committed, 'clients/typescript/openapi.json is stale: npm run client:generate').toEqual(
      served,
    )
  })

  it('has the types openapi-typescript makes of that document', () => {
    // Throws, with openapi-typescript's "not up-to-date", when src/schema.ts differs.
    execFileSync('npm', ['run', '--silent', 'client:types', '--', '--check'], {
      cwd: path.resolve(CLIENT, '../..'),
      stdio: 'pipe',
    })
  })
})

describe('the TypeScript client against a live server', async () => {
  const { app } = await buildTestApp()
  await app.listen({ port: 0, host: '127.0.0.1' })
  const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  let counter = 0
  /** A new account, signed in through a client of its own. */
  async function signedIn() {
    counter += 1
    const username = `client${process.pid}x${counter}`
    const stored: { tokens?: unknown } = {}
    const gatehouse = createGatehouseClient({
      baseUrl,
      onTokens: (tokens) => {
        stored.tokens = tokens
      },
    })
    const registered = await gatehouse.api.POST('/api/v1/auth/register', {
      body: { username, password: PASSWORD, name: 'Client Test' },
    })
    expect(registered.response.status).toBe(201)
    expect(registered.data?.username).toBe(username)
    const answer = await gatehouse.login(username, PASSWORD)
    // Two-factor is off for a new account: the answer is the pair itself.
    if ('mfa_required' in answer) throw new Error('login asked for a code')
    const pair = answer
    expect(stored.tokens).toEqual({
      accessToken: pair.access_token,
      refreshToken: pair.refresh_token,
    })
    return { gatehouse, username, pair }
  }

  it('registers, logs in and calls as the user', async () => {
    const { gatehouse, username } = await signedIn()
    const profile = await unwrap(gatehouse.api.GET('/api/v1/profile'))
    expect(profile).toMatchObject({ username, role: 'user', disabled: false })
    expect(await unwrap(gatehouse.api.GET('/api/v1/private'))).toEqual({ meaning_of_life: 42 })
  })

  it('refreshes: a new pair is kept, and concurrent refreshes spend the token once', async () => {
    const { gatehouse, pair } = await signedIn()
    const [first, second] = await Promise.all([gatehouse.refresh(), gatehouse.refresh()])
    expect(second).toBe(first)
    expect(first.refresh_token).not.toBe(pair.refresh_token)
    expect(gatehouse.tokens?.accessToken).toBe(first.access_token)
    // The session lives on: no refresh token was used twice.
    expect((await unwrap(gatehouse.api.GET('/api/v1/profile/sessions'))).items).toHaveLength(1)
    const again: TokenPair = await gatehouse.refresh()
    expect(again.access_token).not.toBe(first.access_token)
  })

  it('surfaces a spent refresh token as a typed 401 problem', async () => {
    const { gatehouse, pair } = await signedIn()
    await gatehouse.refresh()
    const replay = createGatehouseClient({
      baseUrl,
      tokens: { accessToken: pair.access_token, refreshToken: pair.refresh_token },
    })
    const problem = await refusal(replay.refresh())
    expect(problem.status).toBe(401)
    expect(problem.problem).toMatchObject({ status: 401, type: expect.stringMatching(/^https:/) })
  })

  it('does a todo CRUD with ETags, If-Match (412 as a problem) and Idempotency-Key', async () => {
    const { gatehouse } = await signedIn()
    const key = `create-${Date.now()}`
    const body = { title: 'Buy milk', due: '2026-11-22' }
    const created = await gatehouse.api.POST('/api/v1/todos', {
      params: { header: { 'Idempotency-Key': key } },
      body,
    })
    expect(created.response.status).toBe(201)
    const todo: Todo | undefined = created.data
    if (todo === undefined) throw new Error(`create: ${created.response.status}`)
    expect(created.response.headers.get('location')).toBe(`/api/v1/todos/${todo.id}`)

    // The same key answers the first response again and creates nothing.
    const replayed = await gatehouse.api.POST('/api/v1/todos', {
      params: { header: { 'Idempotency-Key': key } },
      body,
    })
    expect(replayed.data).toEqual(todo)
    expect(replayed.response.headers.get('idempotent-replayed')).toBe('true')
    const reused = await refusal(
      unwrap(
        gatehouse.api.POST('/api/v1/todos', {
          params: { header: { 'Idempotency-Key': key } },
          body: { title: 'Something else' },
        }),
      ),
    )
    expect(reused.problem).toMatchObject({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED' })

    const id = { path: { id: todo.id } }
    const read = await gatehouse.api.GET('/api/v1/todos/{id}', { params: id })
    const etag = read.response.headers.get('etag') ?? ''
    expect(etag).toMatch(/^"/)
    const notModified = await gatehouse.api.GET('/api/v1/todos/{id}', {
      params: { ...id, header: { 'If-None-Match': etag } },
    })
    expect(notModified.response.status).toBe(304)

    const patched = await gatehouse.api.PATCH('/api/v1/todos/{id}', {
      params: { ...id, header: { 'If-Match': etag } },
      body: { title: 'Buy oat milk' },
    })
    expect(patched.data?.title).toBe('Buy oat milk')
    const newEtag = patched.response.headers.get('etag') ?? ''
    expect(newEtag).not.toBe(etag)

    // A write naming the old version is refused: the error is a typed problem.
    const stale = await gatehouse.api.PUT('/api/v1/todos/{id}', {
      params: { ...id, header: { 'If-Match': etag } },
      body: { title: 'Lost update' },
    })
    expect(stale.data).toBeUndefined()
    const problem: Problem | undefined = stale.error
    expect(stale.response.status).toBe(412)
    expect(problem).toMatchObject({ status: 412, code: 'PRECONDITION_FAILED' })
    expect(stale.response.headers.get('content-type')).toMatch(/^application\/problem\+json/)

    const replaced = await unwrap(
      gatehouse.api.PUT('/api/v1/todos/{id}', {
        params: { ...id, header: { 'If-Match': newEtag } },
        body: { title: 'Buy milk', public: true },
      }),
    )
    expect(replaced).toMatchObject({ title: 'Buy milk', public: true, due: null })

    const page = await unwrap(
      gatehouse.api.GET('/api/v1/todos', {
        params: { query: { sort: 'created_at', order: 'desc', limit: 10 } },
      }),
    )
    expect(page.items.map((item) => item.id)).toEqual([todo.id])
    expect(page.next_cursor).toBeNull()

    const deleted = await gatehouse.api.DELETE('/api/v1/todos/{id}', { params: id })
    expect(deleted.response.status).toBe(204)
    const gone = await refusal(unwrap(gatehouse.api.GET('/api/v1/todos/{id}', { params: id })))
    expect(gone.problem).toMatchObject({ status: 404, code: 'TODO_NOT_FOUND' })
  })

  it('surfaces validation errors with the fields they name', async () => {
    const { gatehouse } = await signedIn()
    const invalid = await refusal(
      unwrap(gatehouse.api.POST('/api/v1/todos', { body: { title: '' } })),
    )
    expect(invalid.status).toBe(400)
    expect(invalid.code).toBe('VALIDATION_FAILED')
    expect(invalid.problem.errors?.map((error) => error.path)).toContain('body/title')
  })

  it('logs out: the tokens are forgotten and no longer work', async () => {
    const { gatehouse, pair } = await signedIn()
    await gatehouse.logout()
    expect(gatehouse.tokens).toBeUndefined()
    const anonymous = await refusal(unwrap(gatehouse.api.GET('/api/v1/profile')))
    expect(anonymous.problem).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' })
    gatehouse.setTokens({ accessToken: pair.access_token })
    const ended = await refusal(unwrap(gatehouse.api.GET('/api/v1/profile')))
    expect(ended.status).toBe(401)
    expect(ended.response.headers.get('www-authenticate')).toMatch(/invalid_token/)
  })

  it('works with an API key as the bearer token', async () => {
    const { gatehouse } = await signedIn()
    const key = await unwrap(
      gatehouse.api.POST('/api/v1/profile/api-keys', { body: { name: 'client test' } }),
    )
    const withKey = createGatehouseClient({ baseUrl, tokens: { accessToken: key.key } })
    expect(await unwrap(withKey.api.GET('/api/v1/private'))).toEqual({ meaning_of_life: 42 })
    await expect(withKey.refresh()).rejects.toThrow(/No refresh token/)
  })
  it('logs in with two-factor on: mfa_required keeps nothing, loginWithCode keeps the pair', async () => {
    const { gatehouse, username } = await signedIn()
    await freshStep()
    const { secret } = await unwrap(
      gatehouse.api.POST('/api/v1/profile/mfa/totp', { body: { password: PASSWORD } }),
    )
    await unwrap(
      gatehouse.api.POST('/api/v1/profile/mfa/totp/confirm', { body: { code: totpCode(secret) } }),
    )
    const other = createGatehouseClient({ baseUrl })
    const answer = await other.login(username, PASSWORD)
    if (!('mfa_required' in answer)) throw new Error('login gave tokens without a code')
    expect(other.tokens).toBeUndefined()
    const pair = await other.loginWithCode(answer.mfa_token, totpCode(secret, 1))
    expect(other.tokens?.accessToken).toBe(pair.access_token)
    expect(await unwrap(other.api.GET('/api/v1/profile'))).toMatchObject({ mfa_enabled: true })
  })

  it('in cookie mode, signs requests with the session cookie and the CSRF token, never a token', async () => {
    const { username } = await signedIn()
    const signIn = await fetch(`${baseUrl}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password: PASSWORD }),
      redirect: 'manual',
    })
    expect(signIn.status).toBe(303)
    const cookies = signIn.headers.getSetCookie().map((line) => line.split(';')[0] ?? '')
    const csrf = cookies.find((pair) => pair.startsWith('gh_csrf='))?.slice('gh_csrf='.length)
    // What the browser does by itself: send the cookies. The client adds the rest.
    const sent: Request[] = []
    const browserFetch = (request: Request) => {
      sent.push(request.clone())
      request.headers.set('cookie', cookies.join('; '))
      return fetch(request)
    }
    const page = createGatehouseClient({
      baseUrl,
      fetch: browserFetch,
      csrfToken: () => csrf,
      // Ignored in cookie mode: a header would make the server ignore the cookie.
      tokens: { accessToken: 'not-a-token' },
    })
    expect((await unwrap(page.api.GET('/api/v1/profile'))).username).toBe(username)
    const todo = await unwrap(page.api.POST('/api/v1/todos', { body: { title: 'From a page' } }))
    await unwrap(page.api.DELETE('/api/v1/todos/{id}', { params: { path: { id: todo.id } } }))
    expect(sent.map((request) => request.headers.get('authorization'))).toEqual([null, null, null])
    expect(sent.map((request) => request.headers.get('x-csrf-token'))).toEqual([null, csrf, csrf])
    expect(sent.every((request) => request.credentials === 'same-origin')).toBe(true)

    // Without the token, a write is refused and nothing is created.
    const tokenless = createGatehouseClient({
      baseUrl,
      fetch: browserFetch,
      csrfToken: () => undefined,
    })
    const refused = await refusal(
      unwrap(tokenless.api.POST('/api/v1/todos', { body: { title: 'Forged' } })),
    )
    expect(refused.status).toBe(403)
    const list = await unwrap(page.api.GET('/api/v1/todos'))
    expect(list.items.map((item) => item.title)).not.toContain('Forged')
  })
})
