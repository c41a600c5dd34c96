import { Command } from 'commander'
import { databaseCommands } from './database.commands.js'
import { keysCommands } from './keys.commands.js'
import { subscriberCommands } from './subscribers.commands.js'
import { needsSubcommand } from './terminal.js'
import { userCommands } from './users.commands.js'

/**
 * Every command of `gatehouse` (API.md §11), a group per file: `<topic>.commands.ts` adds its
 * commands to the program, and each action runs on the services the HTTP routes use
 * (`withServices`). A new command goes in its topic's file; a new topic is one more line here.
 */
export function buildProgram(): Command {
  const program = new Command('gatehouse')
    .description(
      'Manage a Gatehouse server and its database, configured by the same environment as the server',
    )
    // Errors are thrown to src/cli/main.ts, which decides the exit status; commander's own
    // messages (unknown option, missing argument) become one line there.
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`gatehouse: ${text.replace(/^error: /, '')}`),
    })
    .showSuggestionAfterError(false)
  // Subcommands copy these settings when they are made: they must be set first.
  databaseCommands(program)
  userCommands(program)
  subscriberCommands(program)
  keysCommands(program)
  // `gatehouse` alone, or with a command it lacks: one line, as for a group.
  needsSubcommand(program)
  return program
}
