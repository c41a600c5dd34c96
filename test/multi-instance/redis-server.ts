import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { connect } from 'node:net'
import { freePort } from './nginx.js'

/** Whether a `redis-server` binary is on PATH. */
export function redisServerInstalled(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export interface OwnRedis {
  readonly url: string
  /** Kills the server (SIGKILL): an outage, and every key gone, as after a crash. */
  kill(): Promise<void>
  /** Starts it again on the same port, empty. */
  start(): Promise<void>
  /** Stops it answering (SIGSTOP) with its connections open: a Redis that hangs. */
  pause(): void
  resume(): void
}

/**
 * A redis-server of this test's own on a spare port, without persistence, that the test may kill
 * and start again; the shared Redis other tests use is never touched.
 */
export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const answers = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    )
    const started = child
    process.once('exit', () => started.kill('SIGKILL'))
    const deadline = Date.now() + 10_000
    while (!(await answers())) {
      if (started.exitCode !== null || Date.now() > deadline)
        throw new Error('redis-server did not start')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      const running = child
      if (running === undefined || running.exitCode !== null) return
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()))
      running.kill('SIGKILL')
      await exited
    },
    start,
    pause() {
      child?.kill('SIGSTOP')
    },
    resume() {
      child?.kill('SIGCONT')
    },
  }
}
