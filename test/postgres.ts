import { afterAll } from 'vitest'
import { onPostgres } from './database.js'
import { createDatabase, dropDatabase } from './postgres-admin.js'

/**
 * Whether this run has PostgreSQL, for suites written for PostgreSQL alone (a database dropped
 * under a running server, a dialect's own behaviour): true in the postgres project only. The
 * sqlite run stays on SQLite, so such a suite runs once, beside the rest of the PostgreSQL run;
 * that project exists only when PostgreSQL answers, and CI=true requires it.
 */
export async function postgresAvailable(): Promise<boolean> {
  return onPostgres
}

/** A fresh, empty database; dropped after the file's tests. Returns its URL and a way to drop it early. */
export async function tempDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const { name, url } = await createDatabase()
  const drop = () => dropDatabase(name)
  afterAll(drop)
  return { url, drop }
}
