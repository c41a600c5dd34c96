import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { loginRaw, refreshRaw, sleep } from '../../test/auth.js'
import {
  bearer,
  buildTestApp,
  json,
  loginAdmin,
  newUser,
  PASSWORD,
  type Session,
} from '../../test/helpers.js'

/** A race is won or lost by timing: each is run several times. */
const ROUNDS = 3
/** Logins spread around one change of the account. */
const LOGINS = 16

const outcome = (answers: readonly (LightMyRequestResponse | undefined)[]) =>
  answers
    .map((answer) => answer?.statusCode)
    .sort()
    .join(' ')

/** Every round saw `expected`; the message lists them all, so a failure shows how many lost. */
function expectEveryRound(outcomes: readonly string[], expected: string): void {
  for (const seen of outcomes) expect(seen, outcomes.join('; ')).toBe(expected)
}

/**
 * Credentials decided on what was read a moment earlier: the current password, whether the
 * account is enabled. A write that races with a change of either must not outlive it.
 */
const racingCredentials = (env: () => Promise<Record<string, string>>) => async () => {
  const { app } = await buildTestApp(await env())
  const admin = await loginAdmin(app)

  const changePassword = (session: Session, current: string, next: string) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/profile/password',
      headers: session.headers,
      payload: { current_password: current, new_password: next },
    })
  const setDisabled = (id: string, disabled: boolean) =>
    app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${id}`,
      headers: admin.headers,
      payload: { disabled },
    })
  /** `run` after `ms` milliseconds: a race is won or lost by where the other request is. */
  const after = async <T>(ms: number, run: () => Promise<T>): Promise<T> => {
    await sleep(ms)
    return run()
  }

  it('of several password changes from one current password, one is applied; the others are 401', async () => {
    const user = await newUser(app, 'changer')
    let current = PASSWORD
    const outcomes: string[] = []
    for (let round = 0; round < 4; round++) {
      const next = Array.from({ length: 6 }, (_, i) => `new password ${round}.${i} for the race`)
      const answers = await Promise.all(
        next.map((password) => changePassword(user, current, password)),
      )
      // Which of the passwords reported set is the one that signs in now.
      const applied = next.filter((_, i) => answers[i]?.statusCode === 204)
      const signsIn: string[] = []
      for (const password of applied) {
        if ((await loginRaw(app, user.username, password)).statusCode === 200)
          signsIn.push(password)
      }
      current = signsIn[0] ?? current
      outcomes.push(`${outcome(answers)}, ${signsIn.length} of ${applied.length} set sign(s) in`)
    }
    expectEveryRound(outcomes, '204 401 401 401 401 401, 1 of 1 set sign(s) in')
  })

  /**
   * Signs in with `password` again and again, spread over `spanMs` while `change` runs, and
   * keeps the logins that got a session: whichever of them read the account just before the
   * change and wrote their session just after it is the race this is about.
   */
  async function loginsAround(
    username: string,
    password: string,
    change: () => Promise<LightMyRequestResponse>,
    spanMs: number,
  ): Promise<{ change: LightMyRequestResponse; refreshTokens: string[] }> {
    const [changed, ...logins] = await Promise.all([
      change(),
      ...Array.from({ length: LOGINS }, (_, i) =>
        after((i * spanMs) / LOGINS, () => loginRaw(app, username, password)),
      ),
    ])
    const refreshTokens = logins
      .filter((login) => login.statusCode === 200)
      .map((login) => json<{ refresh_token: string }>(login).refresh_token)
    return { change: changed, refreshTokens }
  }

  /** The sessions of these refresh tokens that are still alive: none may be. */
  async function alive(refreshTokens: readonly string[]): Promise<number> {
    let count = 0
    for (const token of refreshTokens)
      if ((await refreshRaw(app, token)).statusCode === 200) count++
    return count
  }

  // A login checks the password, then starts a session; a change in between must end it.
  it('logins racing a password change with the old password keep no session', async () => {
    const user = await newUser(app, 'relogin')
    let current = PASSWORD
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const next = `the password after round ${round}`
      const { change, refreshTokens } = await loginsAround(
        user.username,
        current,
        () => changePassword(user, current, next),
        100,
      )
      expect(change.statusCode, change.body).toBe(204)
      current = next
      outcomes.push(`${await alive(refreshTokens)} of ${refreshTokens.length} sessions alive`)
    }
    for (const seen of outcomes) expect(seen, outcomes.join('; ')).toMatch(/^0 of /)
  })

  it('logins racing a disable keep no session that enabling again would revive', async () => {
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const user = await newUser(app, 'disabled')
      const { change, refreshTokens } = await loginsAround(
        user.username,
        PASSWORD,
        () => setDisabled(user.id, true),
        40,
      )
      expect(change.statusCode, change.body).toBe(200)
      expect((await setDisabled(user.id, false)).statusCode).toBe(200)
      outcomes.push(`${await alive(refreshTokens)} of ${refreshTokens.length} sessions alive`)
    }
    for (const seen of outcomes) expect(seen, outcomes.join('; ')).toMatch(/^0 of /)
  })

  it('API keys created while their user is being disabled end with the others', async () => {
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const user = await newUser(app, 'keyed')
      const [disable, ...created] = await Promise.all([
        setDisabled(user.id, true),
        // Spread around the disable, as the logins above.
        ...Array.from({ length: 12 }, (_, i) =>
          after(i * 2, () =>
            app.inject({
              method: 'POST',
              url: '/api/v1/profile/api-keys',
              headers: user.headers,
              payload: { name: `key ${i}` },
            }),
          ),
        ),
      ])
      expect(disable.statusCode, disable.body).toBe(200)
      expect((await setDisabled(user.id, false)).statusCode).toBe(200)
      const keys = created
        .filter((answer) => answer.statusCode === 201)
        .map((answer) => json<{ key: string }>(answer).key)
      let working = 0
      for (const key of keys) {
        const use = await app.inject({ url: '/api/v1/profile', headers: bearer(key) })
        if (use.statusCode === 200) working++
      }
      outcomes.push(`${working} of ${keys.length} keys work`)
    }
    for (const seen of outcomes) expect(seen, outcomes.join('; ')).toMatch(/^0 of /)
  })
}

// On the database of the run: SQLite, or PostgreSQL in the postgres project (test/database.ts).
describe(
  'auth: credentials racing changes',
  racingCredentials(async () => ({})),
)
