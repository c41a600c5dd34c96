import path from 'node:path'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { afterAll, describe, expect, it } from 'vitest'
import { gatehouse } from '../../test/cli.js'
import { onPostgres } from '../../test/database.js'
import { decodeJwt } from '../../test/jwt.js'
import {
  ADMIN_ENV,
  postJson,
  removeDir,
  type ServerProcess,
  sleep,
  startServer,
  tempDir,
} from '../../test/process.js'

/**
 * `gatehouse keys rotate` (API.md §11) beside a running server on the same database: the server
 * signs with the new key and publishes it at once, without a restart (on SQLite at its next
 * request, through the change journal; on PostgreSQL within a second), long before its refresh
 * interval (min(60 s, ACCESS_TOKEN_TTL / 2) = 60 s here) would have it re-read the key set; and a
 * verifier that knows only the published JWKS (jose) accepts old and new tokens.
 */
describe('gatehouse keys rotate beside a running server', { timeout: 60_000 }, async () => {
  const dir = tempDir('gatehouse-cli-keys-')
  const env = {
    DATABASE_URL: `sqlite:${path.join(dir, 'gatehouse.db')}`,
    DATA_DIR: dir,
    RATE_LIMIT: 'false',
    JWT_ALGORITHM: 'EdDSA',
    ACCESS_TOKEN_TTL: '600',
  }
  const server: ServerProcess = await startServer({ ...env, ...ADMIN_ENV }, dir)
  afterAll(async () => {
    await server.stop()
    removeDir(dir)
  })

  async function token(): Promise<string> {
    const response = await postJson(`${server.url}/api/v1/auth/login`, {
      username: ADMIN_ENV.ADMIN_USERNAME,
      password: ADMIN_ENV.ADMIN_PASSWORD,
    })
    expect(response.status).toBe(200)
    return ((await response.json()) as { access_token: string }).access_token
  }
  const kidOf = (jwt: string) => String(decodeJwt(jwt).header.kid)
  const kids = async () => {
    const response = await fetch(`${server.url}/.well-known/jwks.json`)
    return ((await response.json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid)
  }
  /** Runs `gatehouse keys rotate` and returns the kid it says signs from now on. */
  async function rotate(): Promise<string> {
    const rotated = await gatehouse(['keys', 'rotate'], { env, cwd: dir })
    expect(rotated.code, rotated.stderr).toBe(0)
    expect(rotated.stdout).toMatch(/^key \S+ signs from now on; \S+ stays published until /)
    // PostgreSQL has no change journal: the server looks for a newer key at most once a second.
    if (onPostgres) await sleep(1100)
    return rotated.stdout.split(' ')[1] ?? ''
  }
  const verified = async (jwt: string) => {
    // A fresh key set each time: jose caches what it fetched.
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`))
    const { payload } = await jwtVerify(jwt, jwks, {
      issuer: 'gatehouse',
      audience: 'gatehouse',
      algorithms: ['EdDSA'],
      typ: 'at+jwt',
    })
    return payload.sub
  }

  it('a new key signs from then on; the old one stays published; both verify against the JWKS', async () => {
    const before = await token()
    const oldKid = kidOf(before)
    expect(await kids()).toEqual([oldKid])
    expect(await verified(before)).toBeDefined()

    const newKid = await rotate()
    expect(newKid).not.toBe(oldKid)

    // The first request after the rotation, a login, is signed with the new key.
    const after = await token()
    expect(kidOf(after)).toBe(newKid)
    expect(new Set(await kids())).toEqual(new Set([oldKid, newKid]))
    expect(await verified(after)).toBeDefined()
    // The token signed before the rotation keeps working (it has not expired).
    expect(await verified(before)).toBeDefined()
    const old = await fetch(`${server.url}/api/v1/private`, {
      headers: { authorization: `Bearer ${before}` },
    })
    expect(old.status).toBe(200)

    const audit = await fetch(`${server.url}/api/v1/audit?actor_id=cli&kind=keys.rotate`, {
      headers: { authorization: `Bearer ${after}` },
    })
    const { items } = (await audit.json()) as { items: { detail: Record<string, string> }[] }
    expect(items[0]?.detail).toEqual({ kid: newKid, previous_kid: oldKid })
  })

  it('the JWKS lists a new key as soon as the rotation has run', async () => {
    const before = await kids()
    const newKid = await rotate()
    expect(before).not.toContain(newKid)
    // The first request after the rotation asks for the JWKS: it lists the new key.
    expect(await kids()).toContain(newKid)
    expect(kidOf(await token())).toBe(newKid)
  })

  it('under HS256 it refuses with one line and exit status 2, changing nothing', async () => {
    const hsDir = tempDir('gatehouse-cli-keys-hs-')
    try {
      const result = await gatehouse(['keys', 'rotate'], {
        env: { DATABASE_URL: `sqlite:${path.join(hsDir, 'g.db')}`, DATA_DIR: hsDir },
        cwd: hsDir,
      })
      expect(result.code).toBe(2)
      expect(result.stderr).toMatch(/^gatehouse: keys rotate needs JWT_ALGORITHM=EdDSA[^\n]*\n$/)
      expect(result.stdout).toBe('')
    } finally {
      removeDir(hsDir)
    }
  })
})
