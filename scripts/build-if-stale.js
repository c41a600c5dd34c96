// Builds only when a source is newer than the build (or there is none): `npm start` and the
// `gatehouse` command both run the bundle after this. A build costs ~10 s of tsc and esbuild;
// checking costs a few ms, so a built checkout starts at once.
import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function newestMtime(entry) {
  const stat = statSync(entry, { throwIfNoEntry: false })
  if (stat === undefined) return 0
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = 0
  for (const name of readdirSync(entry)) {
    newest = Math.max(newest, newestMtime(path.join(entry, name)))
  }
  return newest
}

const inputs = [
  'src',
  'ui',
  'clients/typescript/src',
  'scripts',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
]
// The oldest of the builds: the server bundle, the command line's, and the web UI (dist/ui).
const outputs = ['dist/gatehouse.js', 'dist/cli.js', 'dist/ui/manifest.json']

export function buildIfStale() {
  const built = Math.min(
    ...outputs.map(
      (file) => statSync(path.join(root, file), { throwIfNoEntry: false })?.mtimeMs ?? 0,
    ),
  )
  const changed = Math.max(...inputs.map((input) => newestMtime(path.join(root, input))))
  if (changed <= built) return
  process.stderr.write(
    'gatehouse: sources changed since the last build; building (npm run build)\n',
  )
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  // Build output goes to stderr: stdout is the command's (`gatehouse user list --json`).
  const stdio = ['ignore', 2, 'inherit']
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio })
  execFileSync(process.execPath, ['scripts/bundle.js'], { cwd: root, stdio })
  execFileSync(process.execPath, ['scripts/build-ui.js'], { cwd: root, stdio })
}
