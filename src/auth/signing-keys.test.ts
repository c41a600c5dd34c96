import { createPrivateKey } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { createLocalJWKSet, type JSONWebKeySet, jwtVerify } from 'jose'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { buildAppAt, expectInvalidToken, expectProblem } from '../../test/auth.js'
import { onTestDatabase } from '../../test/database.js'
import { ADMIN, bearer, json, login, newUser, PASSWORD } from '../../test/helpers.js'
import { accessClaims, decodeJwt, forgeJwt, nowSeconds } from '../../test/jwt.js'
import { loadConfig } from '../core/config.js'
import { openDatabase } from '../core/db.js'
import type { Database } from '../database.js'
import { publishedForMs, rotateSigningKey } from './signing-keys.js'

const TTL = 10
// The default TTL would keep an old key published for 15 minutes; the clock is moved instead.
const ENV = { JWT_ALGORITHM: 'EdDSA', ACCESS_TOKEN_TTL: String(TTL) }

/** What `gatehouse keys rotate` does: its own connection to the database, the same config. */
async function rotatingProcess(dataDir: string, env: Record<string, string>) {
  const config = loadConfig(
    await onTestDatabase({
      DATABASE_URL: `sqlite:${dataDir}/test.db`,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'silent',
      ...env,
    }),
  )
  const database = openDatabase<Database>(config.database)
  afterAll(() => database.close())
  return {
    db: database.kysely,
    rotate: () => rotateSigningKey({ db: database.kysely, config }),
  }
}

const jwksOf = async (app: FastifyInstance) =>
  json<JSONWebKeySet>(await app.inject({ url: '/.well-known/jwks.json' }))

const kidsOf = async (app: FastifyInstance) => (await jwksOf(app)).keys.map((key) => key.kid)

const kidOf = (token: string) => String(decodeJwt(token).header.kid)

const privateStatus = (app: FastifyInstance, token: string) =>
  app.inject({ url: '/api/v1/private', headers: bearer(token) })

/** jose, knowing nothing of Gatehouse but the published JWKS, at the server's clock. */
async function verifiesAgainstJwks(app: FastifyInstance, token: string): Promise<boolean> {
  const keys = createLocalJWKSet(await jwksOf(app))
  try {
    await jwtVerify(token, keys, {
      issuer: 'gatehouse',
      audience: 'gatehouse',
      algorithms: ['EdDSA'],
      typ: 'at+jwt',
      currentDate: new Date(),
    })
    return true
  } catch {
    return false
  }
}

/** The server's clock moved to `at` (ms since the epoch); timers keep running. */
function clockAt(at: number): void {
  vi.useRealTimers()
  vi.useFakeTimers({ toFake: ['Date'], now: at })
}

afterEach(() => {
  vi.useRealTimers()
})

describe('signing-key rotation under EdDSA, two instances and a rotating process', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-keys-'))
  const a = await buildAppAt(dataDir, ENV)
  const b = await buildAppAt(dataDir, ENV)
  const cli = await rotatingProcess(dataDir, ENV)
  afterAll(async () => {
    await a.close()
    await b.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  const dataDirKey = createPrivateKey(readFileSync(path.join(dataDir, 'jwt-ed25519.pem'), 'utf8'))

  it('a token without a kid, or with a kid that is not ours, is refused', async () => {
    const user = await newUser(a)
    const claims = accessClaims(
      { sub: user.id, sid: String(decodeJwt(user.accessToken).payload.sid) },
      { exp: nowSeconds() + TTL },
    )
    const signed = (header: Record<string, unknown>) =>
      forgeJwt({ alg: 'EdDSA', typ: 'at+jwt', ...header }, claims, {
        alg: 'EdDSA',
        privateKey: dataDirKey,
      })
    const ours = String(decodeJwt(user.accessToken).header.kid)
    expect((await privateStatus(a, signed({ kid: ours }))).statusCode).toBe(200)
    expectInvalidToken(await privateStatus(a, signed({})))
    expectInvalidToken(await privateStatus(a, signed({ kid: 'A'.repeat(43) })))
    expectInvalidToken(await privateStatus(a, signed({ kid: '../../etc/passwd' })))
  })

  it('old tokens live until they expire, new ones carry the new kid, the JWKS follows, then drops the old key', async () => {
    const before = await newUser(a)
    const oldKid = kidOf(before.accessToken)
    expect(await kidsOf(a)).toEqual([oldKid])
    expect(await kidsOf(b)).toEqual([oldKid])
    expect(await verifiesAgainstJwks(a, before.accessToken)).toBe(true)

    const rotated = await cli.rotate()
    const rotatedAt = Date.now()
    expect(rotated.previousKid).toBe(oldKid)
    expect(rotated.kid).not.toBe(oldKid)

    // The new key is picked up without a restart: within a refresh interval (TTL/2 here) by
    // every instance; the old token keeps working on both meanwhile.
    clockAt(rotatedAt + (TTL / 2) * 1000 + 100)
    for (const app of [a, b]) {
      expect((await privateStatus(app, before.accessToken)).statusCode).toBe(200)
      expect(await kidsOf(app)).toEqual([oldKid, rotated.kid])
    }
    const afterA = await login(a, before.username, PASSWORD)
    const afterB = await login(b, before.username, PASSWORD)
    expect(kidOf(afterA.accessToken)).toBe(rotated.kid)
    expect(kidOf(afterB.accessToken)).toBe(rotated.kid)
    // Each instance accepts what the other signed, and so does an independent verifier.
    expect((await privateStatus(b, afterA.accessToken)).statusCode).toBe(200)
    expect((await privateStatus(a, afterB.accessToken)).statusCode).toBe(200)
    for (const token of [before.accessToken, afterA.accessToken, afterB.accessToken]) {
      expect(await verifiesAgainstJwks(b, token)).toBe(true)
    }

    // Until its exp (and the clock tolerance after it) the old token works; then it has expired.
    const exp = Number(decodeJwt(before.accessToken).payload.exp) * 1000
    clockAt(exp + 29_000)
    expect((await privateStatus(b, before.accessToken)).statusCode).toBe(200)
    clockAt(exp + 31_000)
    expectProblem(await privateStatus(b, before.accessToken), 401, 'Token has expired')

    // The old key stays published as long as a token it signed may be live, then goes: from
    // the JWKS, and from what the instances accept (a fresh token signed with it is refused).
    const forged = () =>
      forgeJwt(
        { alg: 'EdDSA', typ: 'at+jwt', kid: oldKid },
        accessClaims(
          { sub: before.id, sid: String(decodeJwt(afterA.accessToken).payload.sid) },
          { exp: nowSeconds() + TTL },
        ),
        { alg: 'EdDSA', privateKey: dataDirKey },
      )
    clockAt(rotatedAt + publishedForMs(TTL) - 1000)
    expect(await kidsOf(a)).toEqual([oldKid, rotated.kid])
    expect((await privateStatus(a, forged())).statusCode).toBe(200)
    clockAt(rotatedAt + publishedForMs(TTL) + 1000)
    for (const app of [a, b]) {
      expect(await kidsOf(app)).toEqual([rotated.kid])
      expectInvalidToken(await privateStatus(app, forged()))
    }
    expect(await verifiesAgainstJwks(a, forged())).toBe(false)
    const later = await login(b, before.username, PASSWORD)
    expect(await verifiesAgainstJwks(a, later.accessToken)).toBe(true)
  })

  it('a restarted instance signs with the newest key; only the newest private key is kept', async () => {
    const second = await cli.rotate()
    const c = await buildAppAt(dataDir, ENV)
    const session = await login(c, ADMIN.username, ADMIN.password).finally(() => c.close())
    expect(kidOf(session.accessToken)).toBe(second.kid)
    expect((await privateStatus(a, session.accessToken)).statusCode).toBe(200)
    const rows = await cli.db
      .selectFrom('signing_keys')
      .select(['kid', 'private_key'])
      .orderBy('created_at')
      .execute()
    expect(rows.map((row) => row.kid)).toEqual([second.previousKid, second.kid])
    expect(rows.map((row) => row.private_key === null)).toEqual([true, false])
  })
})

describe('keys rotate under HS256', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-keys-'))
  const app = await buildAppAt(dataDir)
  const cli = await rotatingProcess(dataDir, {})
  afterAll(async () => {
    await app.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('refuses with a clear message and changes nothing', async () => {
    await expect(cli.rotate()).rejects.toThrow(/only under JWT_ALGORITHM=EdDSA/)
    expect(await cli.db.selectFrom('signing_keys').selectAll().execute()).toEqual([])
    const user = await newUser(app)
    expect(decodeJwt(user.accessToken).header.kid).toBeUndefined()
    expect(await kidsOf(app)).toEqual([])
  })
})
