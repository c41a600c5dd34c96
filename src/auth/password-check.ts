import type { AuditLog } from '../audit/audit.repository.js'
import type { Principal } from '../core/caller.js'
import { AppError } from '../core/errors.js'
import type { UsersRepository } from '../users/users.repository.js'
import type { UserRow } from '../users/users.table.js'
import type { ClientInfo } from './client-info.js'
import { type CredentialGuard, guardedCheck } from './credential-guard.js'
import { prepareDummyHash, verifyPassword } from './passwords.js'

export type PasswordCheck = ReturnType<typeof createPasswordCheck>

/**
 * Every check of a password against an account: counted by the credential guard (API.md §3),
 * and audited like a failed login when it fails.
 */
export function createPasswordCheck(deps: {
  users: UsersRepository
  audit: AuditLog
  guard: CredentialGuard
}) {
  const { users, audit, guard } = deps
  // Hashed now, so the first check of an unknown user takes no longer than any other.
  void prepareDummyHash()
  return {
    /**
     * The account that `username` and `password` sign in to, or undefined. Same answer, and the
     * same argon2 work, for an unknown user and a wrong password. A login also refuses a disabled
     * account; Basic credentials pass, for the auth plugin to refuse the disabled principal.
     */
    async signIn(
      username: string,
      password: string,
      client: ClientInfo,
      scheme: 'password' | 'form' | 'basic',
    ): Promise<UserRow | undefined> {
      let row: Awaited<ReturnType<UsersRepository['findByUsername']>>
      let passwordOk = false
      const ok = await guardedCheck(guard, username, client.address, async (lane) => {
        row = await users.findByUsername(username)
        passwordOk = await verifyPassword(row?.password_hash, password, lane)
        if (!passwordOk || (scheme !== 'basic' && row?.disabled !== 0)) return false
        return row?.mfa_enabled === 1 ? 'partly' : true
      })
      if (ok && row !== undefined) return row
      await audit.record('login.failure', row?.id ?? null, {
        // The login body's schema bounds its username; a Basic header's is any length.
        username: scheme === 'basic' ? username.slice(0, 64) : username,
        ip: client.ip,
        scheme,
        reason: row === undefined ? 'unknown_user' : passwordOk ? 'disabled' : 'wrong_password',
      })
      return undefined
    },

    /** The caller's account, when `password` is its current one; 401 (audited) otherwise. */
    async current(principal: Principal, password: string, client: ClientInfo): Promise<UserRow> {
      const row = await users.findById(principal.id)
      const ok =
        row !== undefined &&
        (await guardedCheck(guard, row.username, client.address, (lane) =>
          verifyPassword(row.password_hash, password, lane),
        ))
      if (row === undefined || !ok) {
        await audit.record('login.failure', principal.id, {
          username: principal.username,
          ip: client.ip,
          scheme: 'current_password',
          reason: 'wrong_password',
        })
        throw new AppError('WRONG_PASSWORD', 'current_password is not correct')
      }
      return row
    },
  }
}
