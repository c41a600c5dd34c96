import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { onTestDatabase } from './database.js'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

/** The built server (`test/global-setup.ts` compiles it once per test run). */
export const MAIN = path.resolve(HERE, '../dist/gatehouse.js')

export function tempDir(prefix = 'gatehouse-proc-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix))
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface ServerProcess {
  readonly child: ChildProcess
  readonly port: number
  readonly url: string
  /** Everything written to stdout so far. */
  stdout(): string
  stderr(): string
  /** stdout parsed as JSON lines (non-JSON lines are skipped). */
  logLines(): Record<string, unknown>[]
  readonly exited: Promise<Exit>
  /** Sends a signal and waits for the process to end. */
  stop(signal?: NodeJS.Signals): Promise<Exit>
}

/** Only what the server needs: no NODE_ENV, VITEST or other variables of the test runner leak in. */
function childEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }
}

const running = new Set<ChildProcess>()
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

function launch(env: Record<string, string>, cwd: string) {
  const child = spawn(process.execPath, [MAIN], {
    cwd,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<Exit>((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child)
      // Let the pipes drain so the last lines are captured.
      setImmediate(() => resolve({ code, signal }))
    })
  })
  return { child, exited, stdout: () => stdout, stderr: () => stderr }
}

/** Runs the server expecting it to stop by itself (bad configuration); kills it after `timeoutMs`. */
export async function runToExit(
  env: Record<string, string>,
  cwd: string,
  timeoutMs = 10_000,
): Promise<Exit & { stdout: string; stderr: string }> {
  const proc = launch(await onTestDatabase(env, cwd), cwd)
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs)
  const exit = await proc.exited
  clearTimeout(timer)
  return { ...exit, stdout: proc.stdout(), stderr: proc.stderr() }
}

const LISTENING = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/

/**
 * Starts `node dist/gatehouse.js` in `cwd` (in the postgres run, on the PostgreSQL database of
 * the SQLite file its DATABASE_URL names) on a port the OS picks (PORT=0; the port is read from the
 * "Server listening" log line) and waits until `GET /readyz` answers 200.
 */
export async function startServer(
  env: Record<string, string>,
  cwd: string,
  timeoutMs = 20_000,
): Promise<ServerProcess> {
  const proc = launch({ PORT: '0', LOG_LEVEL: 'info', ...(await onTestDatabase(env, cwd)) }, cwd)
  const deadline = Date.now() + timeoutMs
  let exitedEarly: Exit | null = null
  void proc.exited.then((exit) => {
    exitedEarly = exit
  })
  const fail = (why: string) => {
    proc.child.kill('SIGKILL')
    return new Error(`${why}\nstdout:\n${proc.stdout()}\nstderr:\n${proc.stderr()}`)
  }

  let port: number | undefined
  while (port === undefined) {
    if (exitedEarly !== null) throw fail(`server exited early: ${JSON.stringify(exitedEarly)}`)
    if (Date.now() > deadline) throw fail('server did not listen in time')
    const match = LISTENING.exec(proc.stdout())
    if (match?.[1] !== undefined) port = Number(match[1])
    else await sleep(20)
  }
  const url = `http://127.0.0.1:${port}`
  for (;;) {
    if (exitedEarly !== null) throw fail(`server exited early: ${JSON.stringify(exitedEarly)}`)
    if (Date.now() > deadline) throw fail('server did not become ready in time')
    try {
      const response = await fetch(`${url}/readyz`)
      if (response.status === 200) break
    } catch {
      // Not accepting connections yet.
    }
    await sleep(20)
  }

  return {
    child: proc.child,
    port,
    url,
    stdout: proc.stdout,
    stderr: proc.stderr,
    logLines: () =>
      proc
        .stdout()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    exited: proc.exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal)
      return proc.exited
    },
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export const ADMIN_ENV = {
  ADMIN_USERNAME: 'root',
  ADMIN_PASSWORD: 'admin-password-for-tests',
} as const

export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`
}

/** `fetch` with a JSON body. */
export function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
}

/** Every user, walking the admin list page by page. */
export async function listAllUsers(
  baseUrl: string,
  authorization: string,
): Promise<{ id: string; username: string }[]> {
  const users: { id: string; username: string }[] = []
  let next: string | null = '/api/v1/users?limit=100'
  while (next !== null) {
    const response: Response = await fetch(baseUrl + next, { headers: { authorization } })
    if (response.status !== 200) throw new Error(`list users: ${response.status}`)
    const page = (await response.json()) as {
      items: { id: string; username: string }[]
      next_cursor: string | null
    }
    users.push(...page.items)
    next =
      page.next_cursor === null
        ? null
        : `/api/v1/users?limit=100&cursor=${encodeURIComponent(page.next_cursor)}`
  }
  return users
}
