import type { AuditLog } from '../audit/audit.repository.js'
import type { Principal } from '../core/caller.js'
import { AppError } from '../core/errors.js'
import type { UsersRepository } from '../users/users.repository.js'
import type { UserRow } from '../users/users.table.js'
import type { AuthEvents, CredentialScheme } from './auth-events.js'
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
  events: AuthEvents
}) {
  const { users, audit, guard, events } = deps

  /** A check under the guard; one the guard holds back is counted as refused. */
  async function guarded(
    scheme: CredentialScheme,
    account: string,
    client: string,
    check: Parameters<typeof guardedCheck>[3],
  ): Promise<boolean> {
    try {
      return await guardedCheck(guard, account, client, check)
    } catch (error) {
      if (error instanceof AppError && error.code === 'RATE_LIMITED')
        events.refused(scheme, 'rate_limited')
      throw error
    }
  }

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
      const ok = await guarded(scheme, username, client.address, async (lane) => {
        row = await users.findByUsername(username)
        passwordOk = await verifyPassword(row?.password_hash, password, lane)
        if (!passwordOk || (scheme !== 'basic' && row?.disabled !== 0)) return false
        return row?.mfa_enabled === 1 ? 'partly' : true
      })
      if (ok && row !== undefined) return row
      const reason = row === undefined ? 'unknown_user' : passwordOk ? 'disabled' : 'wrong_password'
      events.refused(scheme, reason)
      await audit.record('login.failure', row?.id ?? null, {
        // The login body's schema bounds its username; a Basic header's is any length.
        username: scheme === 'basic' ? username.slice(0, 64) : username,
        ip: client.ip,
        scheme,
        reason,
      })
      return undefined
    },

    /** The caller's account, when `password` is its current one; 401 (audited) otherwise. */
    async current(principal: Principal, password: string, client: ClientInfo): Promise<UserRow> {
      const row = await users.findById(principal.id)
      const ok =
        row !== undefined &&
        (await guarded('current_password', row.username, client.address, (lane) =>
          verifyPassword(row.password_hash, password, lane),
        ))
      if (row === undefined || !ok) {
        events.refused('current_password', 'wrong_password')
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
