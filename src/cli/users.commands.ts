import type { TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { Argument, type Command } from 'commander'
import type { Services } from '../app.js'
import { CLI_ACTOR } from '../audit/audit.repository.js'
import type { Role as RoleName } from '../core/caller.js'
import { AppError } from '../core/errors.js'
// The formats the route schemas use (`email`): registered by importing it.
import '../core/validation.js'
import { AccountEmail, DisplayName, Role, type User, Username } from '../users/users.schemas.js'
import { withServices } from './services.js'
import { CliError, EXIT, needsSubcommand, readPassword, say, table } from './terminal.js'

/** A value from the command line, checked against the schema the API checks it with. */
function checked<T extends string>(schema: TSchema, what: string, value: T): T {
  const error = Value.Errors(schema, value).First()
  if (error !== undefined) throw new CliError(`${what}: ${error.message}`, EXIT.usage)
  return value
}

const ROLES = Role.anyOf.map((literal) => literal.const)

const USER_COLUMNS = ['username', 'name', 'role', 'status', 'email', 'created_at', 'id']

function userRow(user: User): string[] {
  const email =
    user.email === null ? '' : `${user.email}${user.email_verified ? '' : ' (unverified)'}`
  return [
    user.username,
    user.name,
    user.role,
    user.disabled ? 'disabled' : 'active',
    email,
    user.created_at,
    user.id,
  ]
}

/** The account named `username`; a missing one is named in the error. */
export async function accountOf(services: Services, username: string): Promise<User> {
  try {
    return await services.users.findByUsername(username)
  } catch (error) {
    if (error instanceof AppError && error.code === 'USER_NOT_FOUND') {
      throw new CliError(`no user ${username}`)
    }
    throw error
  }
}

function printUsers(users: readonly User[], json: boolean): void {
  if (json) for (const user of users) say(JSON.stringify(user))
  else say(table(USER_COLUMNS, users.map(userRow)))
}

/** `gatehouse user …`: accounts, through the services the /api/v1/users routes use. */
export function userCommands(program: Command): void {
  const user = program.command('user').description('manage user accounts')

  user
    .command('create')
    .description(
      'create an account; the password is read from a prompt, or from the first line of stdin when it is not a terminal',
    )
    .argument('<username>', '3–32 of a-z 0-9 _ . -')
    .option('--admin', 'make it an admin')
    .option('--name <name>', 'display name (default: the username)')
    .option('--email <address>', 'its email address, mailed a verification link')
    .action(async (username: string, options: { admin?: true; name?: string; email?: string }) => {
      checked(Username, 'username', username)
      const name = checked(DisplayName, 'name', options.name ?? username)
      const email =
        options.email === undefined ? undefined : checked(AccountEmail, 'email', options.email)
      const password = await readPassword(`Password for ${username}: `)
      const role: RoleName = options.admin === true ? 'admin' : 'user'
      const created = await withServices((services) =>
        services.auth.accounts.register(
          { username, password, name, email },
          { actorId: CLI_ACTOR, role },
        ),
      )
      say(`created ${created.role} ${created.username} (${created.id})`)
    })

  user
    .command('list')
    .description('list the accounts, oldest first')
    .option('--search <text>', 'only those whose username or name contains it')
    .option('--json', 'one JSON object a line, as the API answers them')
    .action(async (options: { search?: string; json?: true }) => {
      const users = await withServices(async (services) => {
        const all: User[] = []
        let cursor: string | undefined
        do {
          const page = await services.users.list({ limit: 100, cursor, q: options.search })
          all.push(...page.items)
          cursor = page.next_cursor ?? undefined
        } while (cursor !== undefined)
        return all
      })
      printUsers(users, options.json === true)
    })

  user
    .command('show')
    .description('show one account')
    .argument('<username>')
    .option('--json', 'as a JSON object, as the API answers it')
    .action(async (username: string, options: { json?: true }) => {
      const found = await withServices((services) => accountOf(services, username))
      printUsers([found], options.json === true)
    })

  user
    .command('set-role')
    .description('make an account an admin or a user; a running server applies it at once')
    .argument('<username>')
    .addArgument(new Argument('<role>').choices(ROLES))
    .action(async (username: string, role: RoleName) => {
      await withServices(async (services) => {
        const { id } = await accountOf(services, username)
        await services.users.adminUpdate(CLI_ACTOR, id, { role })
      })
      say(`${username} is now ${role === 'admin' ? 'an admin' : 'a user'}`)
    })

  for (const [command, disabled, done] of [
    ['disable', true, 'disabled: its sessions and API keys have ended'],
    ['enable', false, 'enabled'],
  ] as const) {
    user
      .command(command)
      .description(
        disabled
          ? 'disable an account: it can no longer sign in, its sessions and API keys end'
          : 'enable a disabled account (its old sessions and API keys stay ended)',
      )
      .argument('<username>')
      .action(async (username: string) => {
        await withServices(async (services) => {
          const { id } = await accountOf(services, username)
          await services.users.adminUpdate(CLI_ACTOR, id, { disabled })
        })
        say(`${username} ${done}`)
      })
  }

  user
    .command('set-password')
    .description(
      "set an account's password (prompt, or stdin when it is not a terminal); its sessions end",
    )
    .argument('<username>')
    .action(async (username: string) => {
      const password = await readPassword(`New password for ${username}: `)
      await withServices(async (services) => {
        const { id } = await accountOf(services, username)
        await services.recovery.adminSetPassword(CLI_ACTOR, id, password)
      })
      say(`password of ${username} set; its sessions have ended`)
    })

  user
    .command('reset-mfa')
    .description(
      'turn two-factor login off for an account that lost its authenticator and its recovery codes; its sessions end',
    )
    .argument('<username>')
    .action(async (username: string) => {
      await withServices(async (services) => {
        const { id } = await accountOf(services, username)
        await services.mfa.resetForUser(CLI_ACTOR, id)
      })
      say(`two-factor login of ${username} is off; its sessions have ended`)
    })

  // Last: the commands above must not inherit its tolerance of extra arguments.
  needsSubcommand(user)
}
