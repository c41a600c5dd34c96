import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll } from 'vitest'

const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** True when the PostgreSQL the tests use answers (CI starts it; elsewhere tests may skip). */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 })
  try {
    await client.connect()
    await client.query('select 1')
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => undefined)
  }
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}

/** A fresh, empty database; dropped after the file's tests. Returns its URL and a way to drop it early. */
export async function tempDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `gatehouse_test_${randomBytes(6).toString('hex')}`
  await admin((client) => client.query(`create database ${name}`))
  const drop = () =>
    admin(async (client) => {
      await client.query(`drop database if exists ${name} with (force)`)
    })
  afterAll(drop)
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  return { url: url.toString(), drop }
}
