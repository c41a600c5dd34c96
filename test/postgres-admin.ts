import { randomBytes } from 'node:crypto'
import pg from 'pg'

/**
 * The tests' PostgreSQL, reached as its superuser: probe it, make and drop throwaway databases.
 * No vitest in here: vitest.config.ts probes with it before any test runs.
 */
export const ADMIN_URL =
  process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** Where the tests look for PostgreSQL, without a password. */
export function adminUrlShown(): string {
  const url = new URL(ADMIN_URL)
  url.password = ''
  return url.toString()
}

/**
 * Every throwaway database is named gatehouse_test_<unix seconds>_<random>: the time tells a
 * sweep which ones a killed run left behind, without touching those of a run still going.
 */
const PREFIX = 'gatehouse_test_'
const STAMPED = /^gatehouse_test_(\d{10})_[0-9a-f]+$/
/** shared.test.ts makes its own: gatehouse_auth_<pid>_<unix milliseconds>. */
const AUTH_STAMPED = /^gatehouse_auth_\d+_(\d{13})$/

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}

/** True when the tests' PostgreSQL answers a query. */
export async function postgresAnswers(): Promise<boolean> {
  try {
    await admin((client) => client.query('select 1'))
    return true
  } catch {
    return false
  }
}

function urlOf(name: string): string {
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return url.toString()
}

/** A fresh, empty database; its name and URL. */
export async function createDatabase(): Promise<{ name: string; url: string }> {
  const name = `${PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(5).toString('hex')}`
  await admin((client) => client.query(`create database ${name}`))
  return { name, url: urlOf(name) }
}

/** Drops a database, ending any connection still open to it. */
export async function dropDatabase(name: string): Promise<void> {
  await admin((client) => client.query(`drop database if exists ${name} with (force)`))
}

/** Drops the test databases made more than `maxAgeMs` ago: those of runs that were killed. */
export async function dropStaleDatabases(maxAgeMs: number): Promise<string[]> {
  const names = await admin(async (client) => {
    const result = await client.query<{ datname: string }>(
      `select datname from pg_database where datname like 'gatehouse\\_%'`,
    )
    return result.rows.map((row) => row.datname)
  })
  const cutoff = Date.now() - maxAgeMs
  const stale = names.filter((name) => {
    const seconds = STAMPED.exec(name)?.[1]
    if (seconds !== undefined) return Number(seconds) * 1000 < cutoff
    const millis = AUTH_STAMPED.exec(name)?.[1]
    return millis !== undefined && Number(millis) < cutoff
  })
  for (const name of stale) await dropDatabase(name)
  return stale
}
