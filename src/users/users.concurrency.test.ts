import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { buildTestApp, json, loginAdmin, newUser, PASSWORD } from '../../test/helpers.js'
import type { User } from './users.schemas.js'

/** A lost update shows only when the transactions overlap: each race is run several times. */
const ROUNDS = 8
const WRITERS = 8

/** The statuses of one round, sorted: `200 412 412 …` when exactly one writer was applied. */
const outcome = (answers: readonly (LightMyRequestResponse | undefined)[]) =>
  answers
    .map((answer) => answer?.statusCode)
    .sort()
    .join(' ')
const ONE_APPLIED = ['200', ...Array.from({ length: WRITERS - 1 }, () => '412')].join(' ')

/** Every round saw `expected`; the message lists them all, so a failure shows how many lost. */
function expectEveryRound(outcomes: readonly string[], expected: string): void {
  for (const seen of outcomes) expect(seen, outcomes.join('; ')).toBe(expected)
}

/**
 * Conditional writes to accounts that race with the same If-Match: the check and the write are
 * one step, so exactly one is applied and the others see the version it made (412) or its
 * absence (404).
 */
const racingWrites = (env: () => Promise<Record<string, string>>) => async () => {
  const { app } = await buildTestApp(await env())
  const admin = await loginAdmin(app)

  async function versionOf(url: string, headers: Record<string, string>): Promise<string> {
    return String((await app.inject({ url, headers })).headers.etag)
  }

  /** Races WRITERS PATCHes naming the current version; each round's outcome and final name. */
  async function racePatches(
    url: string,
    headers: Record<string, string>,
    payload: (round: number, writer: number) => Record<string, unknown>,
  ): Promise<string[]> {
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const conditional = { ...headers, 'if-match': await versionOf(url, headers) }
      const answers = await Promise.all(
        Array.from({ length: WRITERS }, (_, writer) =>
          app.inject({
            method: 'PATCH',
            url,
            headers: conditional,
            payload: payload(round, writer),
          }),
        ),
      )
      const applied = answers.filter((answer) => answer.statusCode === 200)
      const stored = json<User>(await app.inject({ url, headers }))
      // The one write that was applied is the one stored.
      const kept =
        applied.length === 1 &&
        json<User>(applied[0] as LightMyRequestResponse).name === stored.name
      outcomes.push(kept ? outcome(answers) : `${outcome(answers)} (stored: ${stored.name})`)
    }
    return outcomes
  }

  it('of several admin PATCHes naming one version of a user, one is applied and the others are 412', async () => {
    const target = await newUser(app, 'contested')
    const outcomes = await racePatches(`/api/v1/users/${target.id}`, admin.headers, (round, i) =>
      // Half of them also state the role: that path takes the last-admin lock first.
      i % 2 === 0
        ? { name: `writer ${round}.${i}` }
        : { name: `writer ${round}.${i}`, role: 'user' },
    )
    expectEveryRound(outcomes, ONE_APPLIED)
  })

  it('of several PATCHes of the own profile naming one version, one is applied and the others are 412', async () => {
    const owner = await newUser(app, 'profile')
    const outcomes = await racePatches('/api/v1/profile', owner.headers, (round, i) => ({
      name: `me ${round}.${i}`,
    }))
    expectEveryRound(outcomes, ONE_APPLIED)
  })

  it('an admin PATCH and DELETE of a user naming one version: one of them happens', async () => {
    const outcomes: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const target = await app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        payload: { username: `doomed${process.pid}x${round}`, password: PASSWORD, name: 'Doomed' },
      })
      const url = `/api/v1/users/${json<User>(target).id}`
      const headers = { ...admin.headers, 'if-match': await versionOf(url, admin.headers) }
      const [patch, remove] = await Promise.all([
        app.inject({ method: 'PATCH', url, headers, payload: { name: 'patched' } }),
        app.inject({ method: 'DELETE', url, headers }),
      ])
      outcomes.push(`${patch?.statusCode} ${remove?.statusCode}`)
    }
    for (const seen of outcomes) expect(['200 412', '404 204'], outcomes.join(', ')).toContain(seen)
  })
}

// On the database of the run: SQLite, or PostgreSQL in the postgres project (test/database.ts).
describe(
  'users: racing conditional writes',
  racingWrites(async () => ({})),
)
