import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { onTestDatabase } from './database.js'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

/** The built command line (`test/global-setup.ts` builds dist/ once per test run). */
export const CLI = path.resolve(HERE, '../dist/cli.js')

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs `gatehouse …args` as a child process in `cwd` with only `env` (on this run's database:
 * test/database.ts), `input` on its stdin (not a terminal), and waits for it to end.
 */
export async function gatehouse(
  args: readonly string[],
  options: { env: Record<string, string>; cwd: string; input?: string; timeoutMs?: number },
): Promise<CliRun> {
  const env = await onTestDatabase(options.env, options.cwd)
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  child.stdin.end(options.input ?? '')
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000)
  const code = await new Promise<number | null>((resolve) => {
    child.on('close', (exitCode) => resolve(exitCode))
  })
  clearTimeout(timer)
  return { code, stdout, stderr }
}

/** The lines of a JSON-lines output. */
export function jsonLines<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T)
}
