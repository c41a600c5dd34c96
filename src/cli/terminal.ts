import cliProgress from 'cli-progress'
import type { Command } from 'commander'

/** Exit statuses (API.md §11): 0 done, 1 failed, 2 bad usage. */
export const EXIT = { done: 0, failed: 1, usage: 2 } as const

/**
 * What a command says when it cannot do its work: one line on stderr, and the exit status.
 * `usage`: what was given is wrong (an argument, an option, the password read); `failed`: it was
 * right, but the work could not be done (no such user, a server holds the database).
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

/**
 * A group (`user`, `subscribers`) run without one of its commands: one line naming them, rather
 * than commander's help text on stderr.
 */
export function needsSubcommand(group: Command): void {
  group.allowExcessArguments().action(() => {
    const names = group.commands.map((command) => command.name()).join(', ')
    const [unknown] = group.args
    const what = unknown === undefined ? 'needs a command' : `has no command '${unknown}'`
    const help = group.parent === null ? 'gatehouse --help' : `gatehouse ${group.name()} --help`
    throw new CliError(`${group.name()} ${what}: ${names} (${help})`, EXIT.usage)
  })
}

/** A result for the person or the script that ran the command: stdout, one line each. */
export function say(line: string): void {
  process.stdout.write(`${line}\n`)
}

/** Rows under a header, each column as wide as its widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  )
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}

export interface Progress {
  /** `done` of `total` units so far. */
  update(done: number, total?: number): void
  stop(): void
}

/**
 * A progress bar on stderr when it is a terminal; otherwise a plain line at each tenth and at
 * the end (a log or a cron mail gets a few lines, not a bar's redraws). stdout stays for results
 * and data (`subscribers export` without a file).
 */
export function progress(label: string, unit: string, total: number): Progress {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit}`,
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    )
    bar.start(total, 0)
    return {
      update(done, newTotal) {
        if (newTotal !== undefined) bar.setTotal(newTotal)
        bar.update(done)
      },
      stop: () => bar.stop(),
    }
  }
  let size = total
  let shownTenth = -1
  let last = 0
  const show = (done: number) => {
    const percent = size === 0 ? 100 : Math.floor((done / size) * 100)
    process.stderr.write(`${label}: ${done}/${size} ${unit} (${percent}%)\n`)
  }
  return {
    update(done, newTotal) {
      if (newTotal !== undefined) size = newTotal
      last = done
      const tenth = size === 0 ? 10 : Math.floor((done / size) * 10)
      if (tenth > shownTenth && tenth < 10) {
        shownTenth = tenth
        show(done)
      }
    },
    stop: () => show(size === 0 ? 0 : Math.max(last, size)),
  }
}

/**
 * A password from a prompt on the terminal, without echo (typed twice, as a typo would lock
 * the account's owner out); from stdin's first line when it is not a terminal (a script,
 * `< file`). Never from the command line, where `ps` and the shell's history would show it.
 */
export async function readPassword(prompt: string): Promise<string> {
  const password = process.stdin.isTTY
    ? await promptHidden(prompt).then(async (first) => {
        const again = await promptHidden('Repeat it: ')
        if (again !== first) throw new CliError('the two passwords differ', EXIT.usage)
        return first
      })
    : await readFirstLine(process.stdin)
  if (password === '') throw new CliError('no password given', EXIT.usage)
  return password
}

/** Up to the first line's end, or all of it: a script that leaves the pipe open is not waited on. */
async function readFirstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = ''
  for await (const chunk of stream) {
    text += chunk.toString()
    if (/\r?\n/.test(text)) break
  }
  const end = text.search(/\r?\n/)
  return end === -1 ? text : text.slice(0, end)
}

function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin
  process.stderr.write(prompt)
  return new Promise((resolve, reject) => {
    let typed = ''
    const finish = (error?: CliError) => {
      input.setRawMode(false)
      input.pause()
      input.off('data', onData)
      process.stderr.write('\n')
      if (error === undefined) resolve(typed)
      else reject(error)
    }
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish()
        // Ctrl-C and Ctrl-D: raw mode delivers them as characters, not as signals.
        if (char === '\u0003' || char === '\u0004') return finish(new CliError('cancelled'))
        if (char === '\u007f' || char === '\b') typed = [...typed].slice(0, -1).join('')
        else if (char >= ' ') typed += char
      }
    }
    input.setRawMode(true)
    input.resume()
    input.on('data', onData)
  })
}
