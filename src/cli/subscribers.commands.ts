import { createReadStream, createWriteStream, statSync } from 'node:fs'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { type Command, Option } from 'commander'
import { CLI_ACTOR } from '../audit/audit.repository.js'
import { csvRecords, exportCsv, jsonRecords } from '../subscribers/subscribers.import.js'
import type { Subscriber } from '../subscribers/subscribers.schemas.js'
import { withServices } from './services.js'
import { CliError, needsSubcommand, type Progress, progress, say } from './terminal.js'

/** The bytes of `file` as they are read, counted on `bar`. */
function readCounted(file: string, bar: Progress) {
  let read = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      read += chunk.length
      bar.update(read)
      callback(null, chunk)
    },
  })
  void pipeline(createReadStream(file), counter).catch((error: Error) => counter.destroy(error))
  return counter
}

/** `gatehouse subscribers import|export`: the API's import and export, over local files. */
export function subscriberCommands(program: Command): void {
  const subscribers = program.command('subscribers').description('the mailing list')

  subscribers
    .command('import')
    .description(
      'add subscribers (confirmed) from CSV with a name,email header or a JSON array of {name, email}; known addresses are skipped, bad lines listed',
    )
    .argument('<file>')
    .addOption(
      new Option('--format <format>', 'the file’s format (default: from its extension)').choices([
        'csv',
        'json',
      ]),
    )
    .action(async (file: string, options: { format?: 'csv' | 'json' }) => {
      const format = options.format ?? (file.toLowerCase().endsWith('.json') ? 'json' : 'csv')
      const size = statSync(file, { throwIfNoEntry: false })?.size
      if (size === undefined) throw new CliError(`there is no file ${file}`)
      const result = await withServices(async (services) => {
        const bar = progress('import', 'bytes', size)
        const body = readCounted(file, bar)
        const records = format === 'json' ? jsonRecords(body) : csvRecords(body)
        const imported = await services.subscribers.import(records, CLI_ACTOR)
        bar.stop()
        return imported
      })
      for (const { line, message } of result.errors) {
        process.stderr.write(`line ${line}: ${message}\n`)
      }
      const unlisted = result.error_count - result.errors.length
      if (unlisted > 0) process.stderr.write(`… and ${unlisted} more bad lines\n`)
      say(
        `created ${result.created}, skipped ${result.skipped} known, ${result.error_count} bad lines`,
      )
    })

  subscribers
    .command('export')
    .description('every subscriber as CSV (id,name,email,status,created_at,confirmed_at)')
    .argument('[file]', 'where it goes (default: stdout)')
    .action(async (file: string | undefined) => {
      const count = await withServices(async (services) => {
        const bar = progress('export', 'subscribers', await services.subscribers.count())
        let done = 0
        async function* counted(): AsyncGenerator<Subscriber> {
          for await (const subscriber of services.subscribers.all()) {
            done += 1
            if (done % 100 === 0) bar.update(done)
            yield subscriber
          }
          bar.update(done, done)
        }
        const out = file === undefined ? process.stdout : createWriteStream(file, { mode: 0o600 })
        await pipeline(exportCsv(counted()), out, { end: file !== undefined })
        bar.stop()
        return done
      })
      if (file !== undefined) say(`exported ${count} subscribers to ${file}`)
    })

  // Last: the commands above must not inherit its tolerance of extra arguments.
  needsSubcommand(subscribers)
}
