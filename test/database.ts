import path from 'node:path'
import { it } from 'vitest'
import { createDatabase, dropDatabase } from './postgres-admin.js'

/**
 * The database is a property of the test run, not of a test: vitest.config.ts runs every file
 * in a `sqlite` project and, when PostgreSQL answers, in a `postgres` project that sets
 * GATEHOUSE_TEST_DATABASE=postgres. Tests keep naming a SQLite file (`sqlite:<dir>/test.db`)
 * as they always have; in the postgres run the helpers turn each distinct file into a
 * throwaway PostgreSQL database of its own. So two apps or servers on one file share one
 * database, a restart on the same file finds its data, and no test needs to know which
 * database it is on unless it is about SQLite itself (then it skips with `onPostgres`).
 */
export const TEST_DATABASE: 'sqlite' | 'postgres' =
  process.env.GATEHOUSE_TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite'

/** True in the postgres run, for the tests about SQLite itself. */
export const onPostgres = TEST_DATABASE === 'postgres'

/**
 * The first line of a describe body that belongs to one database:
 * `if (skipSuite(onPostgres, 'SQLite only: why')) return`. vitest runs the body of a skipped
 * describe all the same (to list its tests) but none of its hooks, so a body that builds an app
 * or a database would leave them behind; this one returns first and lists one skipped test that
 * says why. A single test skips with its context: `skip(onPostgres, 'SQLite only: why')`.
 */
export function skipSuite(skip: boolean, why: string): boolean {
  if (skip) it.skip(why)
  return skip
}

const databases = new Map<string, Promise<{ name: string; url: string }>>()

/**
 * `env` for this run's database: as given, except that in the postgres run a
 * `DATABASE_URL=sqlite:FILE` (resolved against `cwd`) becomes the PostgreSQL database made for
 * FILE on first use. DATA_DIR stays FILE's directory, as it is on SQLite, so the keys and
 * secrets a test looks for are where it looks.
 */
export async function onTestDatabase(
  env: Record<string, string>,
  cwd = process.cwd(),
): Promise<Record<string, string>> {
  const url = env.DATABASE_URL
  if (!onPostgres || url === undefined || !url.startsWith('sqlite:')) return env
  const file = url.slice('sqlite:'.length)
  // An empty path is a configuration error some tests want to see; :memory: has no file.
  if (file === '' || file === ':memory:') return env
  const key = path.resolve(cwd, file)
  let database = databases.get(key)
  if (database === undefined) {
    database = createDatabase()
    databases.set(key, database)
  }
  return { DATA_DIR: path.dirname(key), ...env, DATABASE_URL: (await database).url }
}

/** Drops every database this test file made (test/database-setup.ts, after its last test). */
export async function dropTestDatabases(): Promise<void> {
  const made = [...databases.values()]
  databases.clear()
  for (const database of made) {
    const { name } = await database.catch(() => ({ name: undefined }))
    if (name !== undefined) await dropDatabase(name)
  }
}
