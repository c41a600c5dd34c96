import { adminUrlShown, dropStaleDatabases, postgresAnswers } from './postgres-admin.js'

const HOUR = 60 * 60 * 1000

/**
 * Before the postgres run: PostgreSQL must answer (vitest.config.ts leaves the project out
 * when it does not, except with CI=true, where this makes the run fail), and databases a
 * killed run left behind more than an hour ago are dropped. Younger ones may belong to a run
 * going on beside this one.
 */
export default async function setup(): Promise<void> {
  if (!(await postgresAnswers())) {
    throw new Error(
      `the postgres test project needs PostgreSQL at ${adminUrlShown()} (CI=true requires it)`,
    )
  }
  const dropped = await dropStaleDatabases(HOUR)
  if (dropped.length > 0) console.log(`postgres: dropped ${dropped.length} stale test databases`)
}
