import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { gatehouse } from '../../test/cli.js'
import {
  ADMIN_ENV,
  basicAuth,
  postJson,
  removeDir,
  type ServerProcess,
  sleep,
  startServer,
  tempDir,
} from '../../test/process.js'
import { freshStep, totpCode } from '../../test/totp.js'

const PASSWORD = 'correct horse battery staple'

/**
 * API.md §11: a change made from the command line takes effect at once in a running server, as
 * the same change through the API does. The server runs as its own process; the command is
 * another, on the same database. No test waits between the command and the next request.
 */
describe('the command line beside a running server', { timeout: 60_000 }, async () => {
  const dir = tempDir('gatehouse-cli-server-')
  const env = {
    DATABASE_URL: `sqlite:${path.join(dir, 'gatehouse.db')}`,
    DATA_DIR: dir,
    RATE_LIMIT: 'false',
  }
  const server: ServerProcess = await startServer({ ...env, ...ADMIN_ENV }, dir)
  afterAll(async () => {
    await server.stop()
    removeDir(dir)
  })
  const run = (args: string[], input?: string) => gatehouse(args, { env, cwd: dir, input })

  async function login(username: string, password: string): Promise<string | undefined> {
    const response = await postJson(`${server.url}/api/v1/auth/login`, { username, password })
    if (response.status !== 200) return undefined
    return ((await response.json()) as { access_token: string }).access_token
  }
  const get = (url: string, authorization: string) =>
    fetch(`${server.url}${url}`, { headers: { authorization } })
  const bearer = (token: string | undefined) => `Bearer ${token ?? 'none'}`

  let adminBearer: string | undefined
  async function auditCount(kind: string): Promise<number> {
    adminBearer ??= bearer(await login(ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD))
    const response = await get(`/api/v1/audit?actor_id=cli&kind=${kind}&limit=100`, adminBearer)
    return ((await response.json()) as { items: unknown[] }).items.length
  }

  /**
   * Runs the command while calling the server with `probe` (so what the server caches of the
   * user stays fresh), and answers `probe`'s status from the first call after the change was
   * committed (its audit event, `kind`, written after it, is there): a cache that outlived the
   * change by any time at all would show.
   */
  async function firstAnswerAfter(
    kind: string,
    args: string[],
    probe: () => Promise<Response>,
    input?: string,
  ): Promise<number> {
    const before = await auditCount(kind)
    let answer: number | undefined
    let running = true
    const watching = (async () => {
      while (running && answer === undefined) {
        await (await probe()).arrayBuffer()
        if ((await auditCount(kind)) > before) answer = (await probe()).status
        else await sleep(20)
      }
    })()
    const result = await run(args, input)
    expect(result.code, result.stderr).toBe(0)
    running = false
    await watching
    return answer ?? (await probe()).status
  }

  async function newUser(username: string): Promise<string> {
    const created = await run(['user', 'create', username], `${PASSWORD}\n`)
    expect(created.code, created.stderr).toBe(0)
    const token = await login(username, PASSWORD)
    expect(token).toBeDefined()
    return bearer(token)
  }

  it('set-role: the next request of the user has the new role', async () => {
    const alice = await newUser('alice')
    expect((await get('/api/v1/users', alice)).status).toBe(403)
    const users = () => get('/api/v1/users', alice)
    expect(
      await firstAnswerAfter('role.change', ['user', 'set-role', 'alice', 'admin'], users),
    ).toBe(200)
    expect(
      await firstAnswerAfter('role.change', ['user', 'set-role', 'alice', 'user'], users),
    ).toBe(403)
  })

  it('disable: the next request with its token or password is refused; enable lets it sign in', async () => {
    const bob = await newUser('bob')
    const bobBasic = basicAuth('bob', PASSWORD)
    expect((await get('/api/v1/profile', bob)).status).toBe(200)
    expect((await get('/api/v1/profile', bobBasic)).status).toBe(200)
    const profile = () => get('/api/v1/profile', bob)
    expect(await firstAnswerAfter('user.disable', ['user', 'disable', 'bob'], profile)).toBe(401)
    expect((await get('/api/v1/profile', bobBasic)).status).toBe(401)
    expect(await login('bob', PASSWORD)).toBeUndefined()

    expect((await run(['user', 'enable', 'bob'])).code).toBe(0)
    // The sessions ended with the disabling stay ended; a new sign-in works.
    expect((await get('/api/v1/profile', bob)).status).toBe(401)
    expect((await get('/api/v1/profile', bobBasic)).status).toBe(200)
    expect(await login('bob', PASSWORD)).toBeDefined()
  })

  it('set-password: the old token and the old password are refused at once, the new one works', async () => {
    const carol = await newUser('carol')
    const oldBasic = basicAuth('carol', PASSWORD)
    expect((await get('/api/v1/profile', oldBasic)).status).toBe(200)
    const oldPassword = () => get('/api/v1/profile', oldBasic)
    const args = ['user', 'set-password', 'carol']
    const answer = await firstAnswerAfter(
      'password.set_by_admin',
      args,
      oldPassword,
      'a brand new passphrase\n',
    )
    expect(answer).toBe(401)
    expect((await get('/api/v1/profile', carol)).status).toBe(401)
    expect((await get('/api/v1/profile', oldBasic)).status).toBe(401)
    expect(await login('carol', PASSWORD)).toBeUndefined()
    const fresh = await login('carol', 'a brand new passphrase')
    expect((await get('/api/v1/profile', bearer(fresh))).status).toBe(200)
  })

  it('reset-mfa: the sessions end at once; the password alone signs in again, without a code', async () => {
    const dave = await newUser('dave')
    await freshStep()
    const setUp = await fetch(`${server.url}/api/v1/profile/mfa/totp`, {
      method: 'POST',
      headers: { authorization: dave, 'content-type': 'application/json' },
      body: JSON.stringify({ password: PASSWORD }),
    })
    const { secret } = (await setUp.json()) as { secret: string }
    const confirmed = await fetch(`${server.url}/api/v1/profile/mfa/totp/confirm`, {
      method: 'POST',
      headers: { authorization: dave, 'content-type': 'application/json' },
      body: JSON.stringify({ code: totpCode(secret) }),
    })
    expect(confirmed.status).toBe(200)
    // With two-factor on, the password alone gives no tokens and Basic is refused.
    expect(await login('dave', PASSWORD)).toBeUndefined()
    expect((await get('/api/v1/profile', basicAuth('dave', PASSWORD))).status).toBe(401)

    const profile = () => get('/api/v1/profile', dave)
    expect(await firstAnswerAfter('mfa.disable', ['user', 'reset-mfa', 'dave'], profile)).toBe(401)
    const fresh = await login('dave', PASSWORD)
    const after = await get('/api/v1/profile', bearer(fresh))
    expect(((await after.json()) as { mfa_enabled: boolean }).mfa_enabled).toBe(false)
    expect((await get('/api/v1/profile', basicAuth('dave', PASSWORD))).status).toBe(200)

    const unknown = await run(['user', 'reset-mfa', 'nobody'])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toBe('gatehouse: no user nobody\n')
  })

  it("every change is in the audit log with the actor 'cli', as /api/v1/audit shapes events", async () => {
    const admin = basicAuth(ADMIN_ENV.ADMIN_USERNAME, ADMIN_ENV.ADMIN_PASSWORD)
    const response = await get('/api/v1/audit?actor_id=cli&limit=100', admin)
    expect(response.status).toBe(200)
    const { items } = (await response.json()) as {
      items: { id: string; at: string; kind: string; actor_id: string | null; detail: unknown }[]
    }
    const kinds = new Set(items.map((event) => event.kind))
    for (const kind of [
      'user.create',
      'role.change',
      'user.disable',
      'user.enable',
      'password.set_by_admin',
      'mfa.disable',
    ]) {
      expect(kinds, kind).toContain(kind)
    }
    for (const event of items) {
      expect(event.actor_id).toBe('cli')
      for (const value of Object.values(event.detail as Record<string, unknown>)) {
        expect(typeof value).toBe('string')
      }
    }
    const roleChanges = items.filter((event) => event.kind === 'role.change')
    expect(roleChanges.map((event) => event.detail)).toContainEqual(
      expect.objectContaining({ from: 'user', to: 'admin' }),
    )
  })
})
