// `node scripts/write-openapi.js FILE`: writes the OpenAPI document of the built server (dist/,
// from `npm run build`) to FILE. The app is built but never listens, and the document is what
// `GET /openapi.json` serves: it does not depend on the configuration, so any will do.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { buildApp } from '../dist/app.js'
import { loadConfig } from '../dist/core/config.js'

const output = process.argv[2]
if (output === undefined) {
  process.stderr.write('usage: node scripts/write-openapi.js FILE\n')
  process.exit(2)
}

// Keys the app would generate go to a directory of its own, removed afterwards.
const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-openapi-'))
try {
  const config = loadConfig({
    DATABASE_URL: 'sqlite::memory:',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'silent',
  })
  const app = await buildApp(config, { logger: false })
  await app.ready()
  writeFileSync(output, `${JSON.stringify(app.swagger(), null, 2)}\n`)
  await app.close()
} finally {
  rmSync(dataDir, { recursive: true, force: true })
}
