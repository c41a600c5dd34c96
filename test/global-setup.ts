import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'

/**
 * Builds the server once per test run as `npm run build` does (tsc, then the bundle), so tests
 * that start `node dist/gatehouse.js` exercise the current source and the file `npm start` runs.
 */
export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '..')
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  })
  execFileSync(process.execPath, ['scripts/bundle.js'], { cwd: root, stdio: 'inherit' })
}
