import path from 'node:path'
import type { Command } from 'commander'
import { CLI_ACTOR } from '../audit/audit.repository.js'
import { backupDatabase, restoreDatabase } from './backups.js'
import { cliConfig, withServices } from './services.js'
import { say } from './terminal.js'

/** `gatehouse serve`, `migrate`, `backup`, `restore`: the server and its database. */
export function databaseCommands(program: Command): void {
  program
    .command('serve')
    .description('run the server (what npm start runs), configured by the environment')
    .action(async () => {
      // The server's own entry: it loads the configuration, listens, and handles signals.
      await import('../main.js')
      return new Promise<never>(() => {})
    })

  program
    .command('migrate')
    .description('bring the database to the latest schema, then exit (the server does it too)')
    .action(async () => {
      // Building the services migrates, exactly as a starting server does.
      await withServices(async () => {})
      say('the database is at the latest schema')
    })

  program
    .command('backup')
    .description(
      'write a consistent copy of the SQLite database to <file>, also while the server runs',
    )
    .argument('<file>', 'where the copy goes (replaced if it exists)')
    .action(async (file: string) => {
      await backupDatabase(cliConfig().database, file)
      say(`backup written to ${file}`)
    })

  program
    .command('restore')
    .description(
      'replace the SQLite database with a backup; refuses while a server uses it, checks <file> first',
    )
    .argument('<file>', 'a file `gatehouse backup` wrote')
    .action(async (file: string) => {
      const config = cliConfig()
      await restoreDatabase(config.database, file)
      await withServices((services) =>
        services.audit.record('database.restore', CLI_ACTOR, { file: path.basename(file) }),
      )
      say(`the database is restored from ${file}`)
    })
}
