import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { buildAppAt, expectProblem } from '../../test/auth.js'
import { onTestDatabase } from '../../test/database.js'
import { ADMIN, json, loginAdmin, newUser, PASSWORD } from '../../test/helpers.js'
import { freshStep, totpCode } from '../../test/totp.js'
import { createAuth } from '../auth/auth.js'
import { loadSigningKeys, serverSecretOf } from '../auth/keys.js'
import { loadConfig } from '../core/config.js'
import { migrateToLatest, openDatabase } from '../core/db.js'
import type { Database } from '../database.js'
import { migrations } from '../migrations/index.js'
import { createMfaChallenges } from './mfa.challenges.js'
import { createSecretBox } from './mfa.crypto.js'
import { createMfaService } from './mfa.service.js'

/**
 * `resetForUser`, what `gatehouse user reset-mfa` calls, run as the command line runs it: its
 * own services over the server's database, beside a running server.
 */
describe('resetting a user’s two-factor login (gatehouse user reset-mfa)', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-mfa-reset-'))
  const app = await buildAppAt(dataDir)
  const config = loadConfig(
    await onTestDatabase({
      DATABASE_URL: `sqlite:${dataDir}/test.db`,
      DATA_DIR: dataDir,
      RATE_LIMIT: 'false',
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
    }),
  )
  const database = openDatabase<Database>(config.database)
  await migrateToLatest(database, migrations)
  const db = database.kysely
  const keys = loadSigningKeys(config)
  const auth = await createAuth({
    db,
    keys,
    config,
    redis: undefined,
    shared: false,
    observer: undefined,
    primary: undefined,
    emails: { attachAtRegistration: async () => {}, flush: () => {} },
    secondFactor: createMfaChallenges(db),
  })
  const mfa = createMfaService({
    db,
    dialect: database.dialect,
    secrets: createSecretBox(serverSecretOf(keys)),
    serverSecret: serverSecretOf(keys),
    guard: auth.guard,
    passwords: auth.passwords,
    sessions: auth.sessions,
    identities: auth.identities,
  })
  afterAll(async () => {
    await app.close()
    await database.close()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('turns two-factor off and ends every session, audited with the actor', async () => {
    const session = await newUser(app, 'reset')
    await freshStep()
    const setUp = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/mfa/totp',
      headers: session.headers,
      payload: { password: PASSWORD },
    })
    const secret = json<{ secret: string }>(setUp).secret
    const confirmed = await app.inject({
      method: 'POST',
      url: '/api/v1/profile/mfa/totp/confirm',
      headers: session.headers,
      payload: { code: totpCode(secret) },
    })
    expect(confirmed.statusCode).toBe(200)

    await mfa.resetForUser('cli', session.id)

    // The password alone signs in again: tokens, no code asked.
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { username: session.username, password: PASSWORD },
    })
    expect(Object.keys(json(login))).toContain('access_token')
    // The session from before has ended (its refresh token is read from the database).
    expectProblem(
      await app.inject({
        method: 'POST',
        url: '/api/v1/auth/refresh',
        payload: { refresh_token: session.refreshToken },
      }),
      401,
    )
    const fresh = json<{ access_token: string }>(login).access_token
    const profile = await app.inject({
      url: '/api/v1/profile',
      headers: { authorization: `Bearer ${fresh}` },
    })
    expect(json(profile).mfa_enabled).toBe(false)
    const admin = await loginAdmin(app)
    const audit = await app.inject({ url: '/api/v1/audit?limit=100', headers: admin.headers })
    const reset = json<{
      items: { kind: string; actor_id: string; detail: Record<string, string> }[]
    }>(audit).items.find((event) => event.kind === 'mfa.disable')
    expect(reset).toMatchObject({
      actor_id: 'cli',
      detail: { user_id: session.id, reason: 'reset' },
    })
  })

  it('an unknown user is 404 and changes nothing', async () => {
    await expect(mfa.resetForUser('cli', 'no-such-user')).rejects.toMatchObject({
      code: 'USER_NOT_FOUND',
    })
  })
})
