import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN_ENV, removeDir, type ServerProcess, startServer, tempDir } from './process.js'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

// An end-to-end test through a foreign client: it belongs to no feature, so it sits beside its
// Python script rather than beside a routes file.
const SCRIPT = path.resolve(HERE, 'python/tutorial_clients.py')
const DOCS = path.resolve(HERE, '../docs/tutorial-clients.md')

/**
 * The interpreter to run: Debian's python3 first (what `.ci/run` installs `python3-requests`
 * for), then whichever python3 is on PATH, as long as it can `import requests`. Returns its
 * absolute path (a pyenv shim on PATH is resolved to the real interpreter).
 */
function findPythonWithRequests(): string | null {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(candidate, ['-c', 'import sys, requests; print(sys.executable)'], {
      encoding: 'utf8',
      timeout: 10_000,
    })
    const executable = probe.stdout?.trim()
    if (probe.status === 0 && executable) return executable
  }
  return null
}

const python = findPythonWithRequests()
// .ci/run sets CI=true and installs python3-requests: there a missing interpreter is a failure.
const mustRun = process.env.CI === 'true'
if (python === null && !mustRun) {
  console.log(
    'tutorial clients: skipped, no python3 can `import requests` (apt-get install python3-requests)',
  )
}

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, output: signal === null ? output : `${output}\n(killed: ${signal})` })
    })
  })
}

describe.skipIf(python === null && !mustRun)(
  "the Flask tutorials' clients (Python requests)",
  () => {
    let dir: string | undefined
    let server: ServerProcess | undefined

    beforeAll(async () => {
      if (python === null) {
        throw new Error(
          'CI=true but no python3 can `import requests`: .ci/run installs python3-requests with apt-get',
        )
      }
      dir = tempDir('gatehouse-python-')
      server = await startServer(
        {
          ...ADMIN_ENV,
          DATABASE_URL: `sqlite:${path.join(dir, 'gatehouse.db')}`,
          RATE_LIMIT: 'false',
        },
        dir,
      )
    })

    afterAll(async () => {
      await server?.stop('SIGKILL')
      if (dir !== undefined) removeDir(dir)
    })

    it('register, Basic with non-ASCII passwords, JWT and Bearer headers, form login, refresh, logout, todos and the mailing list all work as the tutorials call them', async () => {
      if (python === null || server === undefined) throw new Error('not set up')
      // Only what the script needs: no proxy variables (requests honours them) or PYTHON* settings.
      const result = await run(
        python,
        [SCRIPT],
        {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          PYTHONUTF8: '1',
          PYTHONDONTWRITEBYTECODE: '1',
          GATEHOUSE_URL: server.url,
          ADMIN_USERNAME: ADMIN_ENV.ADMIN_USERNAME,
          ADMIN_PASSWORD: ADMIN_ENV.ADMIN_PASSWORD,
        },
        25_000,
      )
      const why = `${python} ${SCRIPT} exited ${result.code}:\n${result.output}\nserver stderr:\n${server.stderr()}`
      expect(result.code, why).toBe(0)
      expect(result.output).toMatch(/^OK$/m)
    })
  },
)

describe('docs/tutorial-clients.md', () => {
  /** Lines without their indentation, blank lines dropped: a block's lines as the script has them. */
  const normalise = (code: string) =>
    code
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .join('\n')

  it('every python block is code the tutorial-clients script runs, in the same order of lines', () => {
    const docs = readFileSync(DOCS, 'utf8')
    const blocks = [...docs.matchAll(/^```python\n([\s\S]*?)^```$/gm)].map(
      (match) => match[1] ?? '',
    )
    expect(blocks.length).toBeGreaterThan(5)
    const script = `\n${normalise(readFileSync(SCRIPT, 'utf8'))}\n`
    for (const block of blocks) {
      const found = script.includes(`\n${normalise(block)}\n`)
      expect(found, `this block of the docs is not in ${SCRIPT}:\n${block}`).toBe(true)
    }
  })
})
