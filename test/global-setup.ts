import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'

/**
 * Compiles the server once per test run, so tests that start `node dist/main.js` exercise the
 * current source (incremental: a no-op build takes a few seconds).
 */
export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '..')
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  })
}
