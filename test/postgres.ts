import { afterAll } from 'vitest'
import { createDatabase, dropDatabase, postgresAnswers } from './postgres-admin.js'

/** True when the PostgreSQL the tests use answers (CI starts it; elsewhere tests may skip). */
export function postgresAvailable(): Promise<boolean> {
  return postgresAnswers()
}

/** A fresh, empty database; dropped after the file's tests. Returns its URL and a way to drop it early. */
export async function tempDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const { name, url } = await createDatabase()
  const drop = () => dropDatabase(name)
  afterAll(drop)
  return { url, drop }
}
