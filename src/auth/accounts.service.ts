import type { Kysely } from 'kysely'
import { uuidv7 } from 'uuidv7'
import { createAuditLog } from '../audit/audit.repository.js'
import type { Caller, Role } from '../core/caller.js'
import { type DialectName, isUniqueViolation } from '../core/db.js'
import { AppError } from '../core/errors.js'
import { nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import { createUsersRepository } from '../users/users.repository.js'
import { toUser, type User } from '../users/users.schemas.js'
import type { UserRow } from '../users/users.table.js'
import type { ClientInfo } from './client-info.js'
import type { IdentityCache } from './identity-cache.js'
import type { PasswordCheck } from './password-check.js'
import { checkPasswordPolicy, hashPassword } from './passwords.js'
import type { SessionsService } from './sessions.service.js'

export type AccountsService = ReturnType<typeof createAccountsService>

/** What registration asks of the account-email feature, inside its transaction (app.ts wires it). */
export interface RegistrationEmails {
  attachAtRegistration(trx: Kysely<Database>, user: UserRow, email: string): Promise<void>
  /** After the commit: wakes mail delivery if a mail was queued. */
  flush(): void
}

async function newAccount(
  input: { username: string; password: string; name: string },
  role: Role,
): Promise<UserRow> {
  const now = nowIso()
  return {
    id: uuidv7(),
    username: input.username,
    name: input.name,
    password_hash: await hashPassword(input.password),
    role,
    disabled: 0,
    created_at: now,
    updated_at: now,
    password_changed_at: now,
    email: null,
    email_normalised: null,
    email_verified: 0,
    mfa_enabled: 0,
  }
}

/** Creates the configured admin once; an existing user of that name is left as it is. */
export async function ensureAdmin(
  db: Kysely<Database>,
  dialect: DialectName,
  admin: { username: string; password: string },
): Promise<void> {
  const users = createUsersRepository(db, dialect)
  if ((await users.findByUsername(admin.username)) !== undefined) return
  try {
    await users.insert(await newAccount({ ...admin, name: admin.username }, 'admin'))
  } catch (error) {
    // Another instance starting at the same moment created it first.
    if (!isUniqueViolation(error)) throw error
  }
}

/** Accounts and their passwords: registration and password changes. */
export function createAccountsService(deps: {
  db: Kysely<Database>
  dialect: DialectName
  passwords: PasswordCheck
  identities: IdentityCache
  sessions: Pick<SessionsService, 'endAll'>
  emails: RegistrationEmails
  passwordMinLength: number
}) {
  const { passwords, identities, sessions } = deps
  const users = createUsersRepository(deps.db, deps.dialect)
  const audit = createAuditLog(deps.db)

  return {
    /**
     * A new user; an `email` is attached in the same transaction, with its mail (API.md §10:
     * an address another account holds, verified or not, is left off, and nothing says so here).
     */
    async register(
      input: {
        username: string
        password: string
        name: string
        email?: string | undefined
      },
      /** An operator making the account (the command line): its role, audited as theirs. */
      by?: { actorId: string; role: Role },
    ): Promise<User> {
      checkPasswordPolicy(input.password, deps.passwordMinLength, 'password')
      const row = await newAccount(input, by?.role ?? 'user')
      const { email } = input
      let created: UserRow
      try {
        created = await deps.db.transaction().execute(async (trx) => {
          const repo = createUsersRepository(trx, deps.dialect)
          await repo.insert(row)
          if (email !== undefined) await deps.emails.attachAtRegistration(trx, row, email)
          if (by !== undefined) {
            await createAuditLog(trx).record('user.create', by.actorId, {
              user_id: row.id,
              role: row.role,
            })
          }
          return (await repo.findById(row.id)) ?? row
        })
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new AppError('USERNAME_TAKEN', 'That username is already taken')
        }
        throw error
      }
      deps.emails.flush()
      return toUser(created)
    },

    /** Every other session ends; the caller's own, if they used one, goes on. */
    async changePassword(
      caller: Caller,
      currentPassword: string,
      newPassword: string,
      client: ClientInfo,
    ): Promise<void> {
      const row = await passwords.current(caller.principal, currentPassword, client)
      checkPasswordPolicy(newPassword, deps.passwordMinLength, 'new_password')
      const now = nowIso()
      // Only over the hash the password was checked against: two changes sent with one current
      // password would otherwise both succeed, each told its password is set (hashing takes long
      // enough for this to happen by accident).
      const replaced = await users.replacePassword(row.id, row.password_hash, {
        password_hash: await hashPassword(newPassword),
        password_changed_at: now,
        updated_at: now,
      })
      if (!replaced) throw new AppError('WRONG_PASSWORD', 'current_password is not correct')
      identities.forget(row.id)
      await sessions.endAll(row.id, caller.sessionId)
      await audit.record('password.change', row.id, {})
    },
  }
}
