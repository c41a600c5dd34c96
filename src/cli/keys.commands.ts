import type { Command } from 'commander'
import { CLI_ACTOR } from '../audit/audit.repository.js'
import { rotateSigningKey } from '../auth/signing-keys.js'
import { cliConfig, withServices } from './services.js'
import { CliError, EXIT, needsSubcommand, say } from './terminal.js'

/** `gatehouse keys …`: the EdDSA signing keys (API.md §3 JWKS, §11). */
export function keysCommands(program: Command): void {
  const keys = program.command('keys').description('manage the signing keys of access tokens')

  keys
    .command('rotate')
    .description(
      'under JWT_ALGORITHM=EdDSA: a new key signs from now on; the previous one stays in the JWKS until every token it signed has expired',
    )
    .action(async () => {
      // Under HS256 there is no key set to rotate: a usage error, said before anything opens.
      if (cliConfig().jwtAlgorithm !== 'EdDSA') {
        throw new CliError(
          'keys rotate needs JWT_ALGORITHM=EdDSA; under HS256 the one secret is JWT_SECRET (or DATA_DIR/jwt-secret), and replacing it ends every session',
          EXIT.usage,
        )
      }
      const rotated = await withServices(async (services) => {
        const done = await rotateSigningKey({
          db: services.database.kysely,
          config: services.config,
        })
        await services.audit.record('keys.rotate', CLI_ACTOR, {
          kid: done.kid,
          previous_kid: done.previousKid,
        })
        return done
      })
      say(
        `key ${rotated.kid} signs from now on; ${rotated.previousKid} stays published until ${rotated.previousPublishedUntil}`,
      )
    })

  // Last: the command above must not inherit its tolerance of extra arguments.
  needsSubcommand(keys)
}
