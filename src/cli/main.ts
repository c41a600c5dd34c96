import cluster from 'node:cluster'
import { CommanderError } from 'commander'
import { AppError } from '../core/errors.js'
import { buildProgram } from './program.js'
import { CliError, EXIT } from './terminal.js'

/**
 * The `gatehouse` command (the package's bin: scripts/gatehouse.js runs the bundle of this
 * file). Every failure ends here as one line on stderr and an exit status: 0 done, 1 failed,
 * 2 bad usage (API.md §11).
 */
function exitStatusOf(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander has written its message (or the help): only the status is left to choose.
    return error.exitCode === 0 ? EXIT.done : EXIT.usage
  }
  let message: string
  let status: number = EXIT.failed
  if (error instanceof CliError) {
    message = error.message
    status = error.exitCode
  } else if (error instanceof AppError) {
    // The services' own refusals, as the API words them; a value the API would answer 400 or
    // 422 for was given wrong on this command line (or its stdin).
    const field = error.extra.errors?.[0]
    message =
      field === undefined ? error.detail : `${field.path.replace(/^body\//, '')}: ${field.message}`
    if (error.status === 400 || error.status === 422) status = EXIT.usage
  } else {
    // Not a refusal but a fault (a file not readable, the database unreachable): its first
    // line, never the stack.
    message = error instanceof Error ? error.message : String(error)
  }
  process.stderr.write(`gatehouse: ${message.split('\n')[0]}\n`)
  return status
}

if (cluster.isWorker) {
  // A worker of `gatehouse serve` with WORKERS>1: the primary (src/cluster.ts) forks the file it
  // runs, this one, without arguments. It is a server.
  await import('../main.js')
} else {
  let status: number = EXIT.done
  try {
    await buildProgram().parseAsync(process.argv)
  } catch (error) {
    status = exitStatusOf(error)
  }
  // Idle handles (a database pool, a Redis client) must not keep a finished command alive.
  process.exit(status)
}
