import { configDefaults, defineConfig, type TestProjectInlineConfiguration } from 'vitest/config'
import { adminUrlShown, postgresAnswers } from './test/postgres-admin.js'

const project = {
  include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  testTimeout: 30_000,
  hookTimeout: 60_000,
} satisfies TestProjectInlineConfiguration['test']

/**
 * Every suite runs once per database: in the `sqlite` project, and in the `postgres` project,
 * where test/database.ts gives each SQLite file a test names a throwaway PostgreSQL database.
 * Without a PostgreSQL to talk to, the postgres project is left out with one line; with CI=true
 * it stays in, and its global setup fails the run. The browser journeys (test/browser/) are the
 * exception: they run in the sqlite project only.
 */
export default defineConfig(async () => {
  const withPostgres = process.env.CI === 'true' || (await postgresAnswers())
  if (!withPostgres) {
    console.log(`postgres project skipped: no PostgreSQL answers at ${adminUrlShown()}`)
  }
  const projects: TestProjectInlineConfiguration[] = [
    { test: { ...project, name: 'sqlite', env: { GATEHOUSE_TEST_DATABASE: 'sqlite' } } },
  ]
  if (withPostgres) {
    projects.push({
      test: {
        ...project,
        name: 'postgres',
        // The browser journeys test the pages, not the database: they run once, in the sqlite run.
        exclude: [...configDefaults.exclude, 'test/browser/**'],
        env: { GATEHOUSE_TEST_DATABASE: 'postgres' },
        globalSetup: ['test/postgres-global-setup.ts'],
        setupFiles: ['test/database-setup.ts'],
      },
    })
  }
  return {
    test: {
      // Builds dist/ once for both projects: some tests start the real server as a process.
      globalSetup: ['test/global-setup.ts'],
      // One pool for both projects. argon2 hashing and the servers the tests start keep two
      // cores busy; two workers keep the suite honest and stable.
      pool: 'forks',
      poolOptions: { forks: { maxForks: 2, minForks: 1 } },
      projects,
    },
  }
})
