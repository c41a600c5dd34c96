// Bundles the server into one file, dist/gatehouse.js, which `npm start` runs (its mail
// thread into dist/mail.thread.js, the `gatehouse` command into dist/cli.js). Loading Kysely,
// TypeBox and Fastify as hundreds of separate ES modules took ~60 % of start-up (~0.5 s of
// resolving, reading and linking files); as one file the server is ready in about 0.55 s
// instead of 0.85 s (BENCHMARKS.md, start-up). `tsc` still type-checks and emits dist/ per
// module, which the benchmark's seeder imports.
import { build } from 'esbuild'

await build({
  // The mail thread is started from its own file, next to app.ts, which starts it
  // (`new URL('./mail.thread.js', import.meta.url)`): in the bundle, both sit in dist/. (tsc
  // emits an unbundled dist/mail.thread.js first; this one replaces it.)
  entryPoints: {
    gatehouse: 'src/main.ts',
    'mail.thread': 'src/mail.thread.ts',
    // The command line, whose `serve` runs the server's entry (bundled in it, beside the mail
    // thread and the web UI as dist/gatehouse.js is).
    cli: 'src/cli/main.ts',
  },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Native addons load their binaries from their own folders; swagger-ui serves its static
  // files from its package directory; pg and ioredis load only when configured; pino starts
  // transport workers by file path. These stay in node_modules.
  external: ['better-sqlite3', '@node-rs/argon2', '@fastify/swagger-ui', 'pg', 'ioredis', 'pino'],
  // CommonJS packages inside an ES module bundle still call `require`.
  banner: {
    js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);",
  },
  // Stack traces name the source file and line with `node --enable-source-maps`.
  sourcemap: 'linked',
  logLevel: 'warning',
})
