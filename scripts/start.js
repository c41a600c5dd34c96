// `npm start`: builds only when a source is newer than the bundle (or there is none), then runs
// the bundle in this process. A build costs ~10 s of tsc and esbuild; checking costs a few ms,
// so a built checkout starts as fast as `node dist/gatehouse.js` plus npm's own start.
import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const bundle = path.join(root, 'dist', 'gatehouse.js')

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

const uiManifest = path.join(root, 'dist', 'ui', 'manifest.json')

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
// The older of the two builds: the server bundle and the web UI (dist/ui).
const built = Math.min(
  ...[bundle, uiManifest].map((file) => statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0),
)
const changed = Math.max(...inputs.map((input) => newestMtime(path.join(root, input))))
if (changed > built) {
  process.stderr.write(
    'gatehouse: sources changed since the last build; building (npm run build)\n',
  )
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  })
  execFileSync(process.execPath, ['scripts/bundle.js'], { cwd: root, stdio: 'inherit' })
  execFileSync(process.execPath, ['scripts/build-ui.js'], { cwd: root, stdio: 'inherit' })
}
await import(pathToFileURL(bundle).href)
