import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { loginRaw } from '../../test/auth.js'
import { buildTestApp, newUser, PASSWORD, type Session } from '../../test/helpers.js'
import { postgresAvailable, tempDatabase } from '../../test/postgres.js'

const outcome = (answers: readonly (LightMyRequestResponse | undefined)[]) =>
  answers
    .map((answer) => answer?.statusCode)
    .sort()
    .join(' ')

/**
 * Credentials decided on what was read a moment earlier: the current password, whether the
 * account is enabled. A write that races with a change of either must not outlive it.
 */
const racingCredentials = (env: () => Promise<Record<string, string>>) => async () => {
  const { app } = await buildTestApp(await env())

  const changePassword = (session: Session, current: string, next: string) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/profile/password',
      headers: session.headers,
      payload: { current_password: current, new_password: next },
    })

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
    expect(outcomes).toEqual(
      Array.from({ length: 4 }, () => '204 401 401 401 401 401, 1 of 1 set sign(s) in'),
    )
  })
}

describe(
  'auth: credentials racing changes (SQLite)',
  racingCredentials(async () => ({})),
)

describe.skipIf(!(await postgresAvailable()))(
  'auth: credentials racing changes (PostgreSQL)',
  racingCredentials(async () => ({ DATABASE_URL: (await tempDatabase()).url })),
)
