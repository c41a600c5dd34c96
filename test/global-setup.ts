import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

/**
 * Builds the server once per test run as `npm run build` does (tsc, the bundle, the UI), so tests
 * that start `node dist/gatehouse.js` exercise the current source and the file `npm start` runs.
 */
export default function setup(): void {
  const root = path.resolve(HERE, '..')
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  })
  execFileSync(process.execPath, ['scripts/bundle.js'], { cwd: root, stdio: 'inherit' })
  // The web UI's assets (dist/ui), which test apps serve (test/helpers.ts).
  execFileSync(process.execPath, ['scripts/build-ui.js'], { cwd: root, stdio: 'inherit' })
}
