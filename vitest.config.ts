import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Builds dist/ once: some tests start the real server as a process.
    globalSetup: ['test/global-setup.ts'],
    // argon2 hashing dominates; two cores, so two workers keep the suite honest and stable.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
