// Builds the web UI (ui/) into dist/ui/: fingerprinted, minified ES modules and one stylesheet,
// a manifest from logical names to files, and a .br and .gz beside each file so that the
// server sends them precompressed (src/web/assets.ts). Run by `npm run build`, by the tests'
// global setup and by `npm start` when ui/ changed.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const outdir = path.join(root, 'dist', 'ui')

// One entry per group of pages, so a visitor of / never loads the todo board; what they share
// (Preact, ui/lib, the API client) lands in chunks that every entry imports.
const entryPoints = {
  public: 'ui/public/main.tsx',
  app: 'ui/app/main.tsx',
  admin: 'ui/admin/main.tsx',
  styles: 'ui/styles.css',
}

rmSync(outdir, { recursive: true, force: true })
mkdirSync(outdir, { recursive: true })
const result = await build({
  absWorkingDir: root,
  entryPoints,
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  // Browsers with ES modules, dialog and :focus-visible: the last two years of each engine.
  target: ['chrome111', 'firefox111', 'safari16.4'],
  minify: true,
  // The hash in every name is what lets /assets/ cache a file for a year.
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  tsconfig: 'ui/tsconfig.json',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
})

/** Every chunk `output` loads before it runs: its static imports and theirs. */
function staticImports(output, found = new Set()) {
  for (const entry of result.metafile.outputs[output]?.imports ?? []) {
    if (entry.kind !== 'import-statement' || found.has(entry.path)) continue
    found.add(entry.path)
    staticImports(entry.path, found)
  }
  return found
}

// manifest.json: { files: { 'app.js': 'app-HASH.js', … }, imports: { 'app.js': [chunks] } }.
// A shell links its entry and preloads the chunks the entry imports.
const files = {}
const imports = {}
for (const [output, meta] of Object.entries(result.metafile.outputs)) {
  if (meta.entryPoint === undefined) continue
  const logical = Object.entries(entryPoints).find(([, source]) => source === meta.entryPoint)
  if (logical === undefined) continue
  const extension = path.extname(output)
  const name = `${logical[0]}${extension}`
  files[name] = path.basename(output)
  if (extension === '.js') imports[name] = [...staticImports(output)].map((f) => path.basename(f))
}
writeFileSync(
  path.join(outdir, 'manifest.json'),
  `${JSON.stringify({ files, imports }, null, 2)}\n`,
)

// Compressed once here at the highest levels, instead of on every request.
for (const output of Object.keys(result.metafile.outputs)) {
  if (output.endsWith('.map')) continue
  const file = path.join(root, output)
  const raw = readFileSync(file)
  const brotli = brotliCompressSync(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  })
  const gzip = gzipSync(raw, { level: 9 })
  if (brotli.length < raw.length) writeFileSync(`${file}.br`, brotli)
  if (gzip.length < raw.length) writeFileSync(`${file}.gz`, gzip)
}
