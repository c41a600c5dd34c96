import { createHash } from 'node:crypto'
import type { Kysely } from 'kysely'
import { createAuditLog } from '../audit/audit.repository.js'
import type { CounterStore } from '../auth/credential-counters.js'
import { checkPasswordPolicy, hashPassword } from '../auth/passwords.js'
import { type DialectName, isUniqueViolation } from '../core/db.js'
import { AppError } from '../core/errors.js'
import { hashToken, randomToken } from '../core/opaque-tokens.js'
import { isoAfterSeconds, nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import type { MailQueue } from '../mail/mail.delivery.js'
import { createUsersRepository } from '../users/users.repository.js'
import { normaliseEmail, toUser, type User } from '../users/users.schemas.js'
import type { UserRow } from '../users/users.table.js'
import { accountMail } from './recovery.mail.js'
import { createAccountTokensRepository } from './recovery.repository.js'

const invalidToken = () =>
  new AppError('INVALID_ACCOUNT_TOKEN', 'The link is invalid, has expired or was already used')
const userNotFound = () => new AppError('USER_NOT_FOUND', 'No such user')

/** Reset requests for one account in an hour, at most (API.md §8 "Rate limits"). */
const RESETS_PER_ACCOUNT_HOUR = 3
const HOUR_MS = 3_600_000
/** Counted in place of an account when there is none: the same query either way. */
const NO_ACCOUNT = '00000000-0000-7000-8000-000000000000'

/**
 * What ends with a password reset but belongs to the auth feature; app.ts wires it. Sessions end
 * after the commit (they are ended through revocations every instance sees); API keys inside it.
 */
export interface RecoveryCredentials {
  revokeApiKeys(userId: string, actorId: string, trx: Kysely<Database>): Promise<void>
  /** After the commit: caches of the user are stale, and every session ends. */
  passwordReplaced(userId: string): Promise<void>
}

export type RecoveryService = ReturnType<typeof createRecoveryService>

/** Email verification and password recovery (API.md §10): links by mail, admin help. */
export function createRecoveryService(deps: {
  db: Kysely<Database>
  dialect: DialectName
  mail: MailQueue
  credentials: RecoveryCredentials
  publicUrl: string
  passwordResetTtl: number
  passwordMinLength: number
  /**
   * Where reset requests are counted for the per-account limit, shared across processes and
   * instances (`counterStore`); undefined when rate limits are off (RATE_LIMIT).
   */
  resetCounts: CounterStore | undefined
}) {
  const { db, dialect, mail, credentials, resetCounts } = deps
  const resetLink = (token: string) =>
    `${deps.publicUrl}/reset-password?token=${encodeURIComponent(token)}`

  /** A new reset link for `user`'s verified address, queued with `trx`. */
  async function queueResetLink(
    trx: Kysely<Database>,
    user: UserRow & { email: string; email_normalised: string },
    token: string,
    now: string,
  ): Promise<void> {
    await createAccountTokensRepository(trx).insert({
      token_hash: hashToken(token),
      user_id: user.id,
      purpose: 'password_reset',
      email: user.email_normalised,
      created_at: now,
      expires_at: isoAfterSeconds(deps.passwordResetTtl),
      used_at: null,
    })
    const text = accountMail.passwordReset(resetLink(token), deps.passwordResetTtl)
    await mail.enqueue(trx, { name: user.name, email: user.email, ...text }, now)
  }

  /** The account's verified address, or undefined: only such an address gets reset links. */
  function verified(
    row: UserRow | undefined,
  ): (UserRow & { email: string; email_normalised: string }) | undefined {
    if (row === undefined || row.email_verified !== 1) return undefined
    const { email, email_normalised } = row
    if (email === null || email_normalised === null) return undefined
    return { ...row, email, email_normalised }
  }

  /** Sets a password inside `trx`: earlier reset links die, a verified address is told. */
  async function replacePassword(
    trx: Kysely<Database>,
    row: UserRow,
    passwordHash: string,
  ): Promise<void> {
    const now = nowIso()
    await createUsersRepository(trx, dialect).update(row.id, {
      password_hash: passwordHash,
      password_changed_at: now,
      updated_at: now,
    })
    await createAccountTokensRepository(trx).spendAll(row.id, 'password_reset', now)
    const to = verified(row)
    if (to !== undefined) {
      const text = accountMail.passwordChanged()
      await mail.enqueue(trx, { name: to.name, email: to.email, ...text }, now)
    }
  }

  /**
   * Counts a reset request under the login as typed (normalised) and under the account it names,
   * and refuses the 4th in an hour of either: so an account is limited however it is named and
   * from whichever client. A login that names no account is counted under its text twice over,
   * in the same single call, so it is limited, answered and timed like a known one.
   */
  async function countResetRequest(
    counts: CounterStore,
    login: string,
    accountId: string | undefined,
  ): Promise<void> {
    const typed = createHash('sha256').update(normaliseEmail(login)).digest('base64url')
    const { counts: windows } = await counts.add(
      [
        { key: `reset-login:${typed}`, windowMs: HOUR_MS },
        { key: `reset-account:${accountId ?? `login:${typed}`}`, windowMs: HOUR_MS },
      ],
      1,
    )
    const over = windows.filter((window) => window.count > RESETS_PER_ACCOUNT_HOUR)
    if (over.length === 0) return
    const seconds = Math.max(1, ...over.map((window) => Math.ceil(window.msLeft / 1000)))
    throw new AppError('RATE_LIMITED', `Rate limit exceeded; retry in ${seconds} seconds`, {
      headers: { 'retry-after': String(seconds) },
    })
  }

  return {
    /** Spends a verification link: the address it went to, if still the account's, is verified. */
    async verifyEmail(token: string): Promise<User> {
      try {
        return await db.transaction().execute(async (trx) => {
          const now = nowIso()
          const tokens = createAccountTokensRepository(trx)
          const used = await tokens.use(hashToken(token), 'verify_email', now)
          if (used === undefined) throw invalidToken()
          const repo = createUsersRepository(trx, dialect)
          const row = await repo.findForUpdate(used.userId)
          // The address was replaced since the link was sent: the link verifies nothing.
          if (row === undefined || row.email_normalised !== used.email) throw invalidToken()
          // Another account confirmed the address first: the unique index refuses this one.
          const updated = await repo.update(row.id, { email_verified: 1, updated_at: now })
          if (updated === undefined) throw invalidToken()
          await createAuditLog(trx).record('email.verify', row.id, {})
          return toUser(updated)
        })
      } catch (error) {
        if (isUniqueViolation(error)) throw invalidToken()
        throw error
      }
    },

    /**
     * Mails a reset link to the verified address of the account `login` names (username or
     * address). The caller learns nothing: the same answer, and the same work (a lookup, a
     * counter call, a count, a token row, an audit event, one transaction), whether or not
     * there is such an account, it has a verified address, or its hourly limit is spent; only
     * the outbox row differs. Past the limit (`countResetRequest`) a 429, and nothing written.
     */
    async requestReset(login: string, client: { ip: string }): Promise<void> {
      const token = randomToken()
      const now = nowIso()
      const since = new Date(Date.now() - HOUR_MS).toISOString()
      // Looked up before the transaction, so that it is not held open over the counter call
      // (on SQLite a transaction holds the write lock, for every process).
      const repo = createUsersRepository(db, dialect)
      const found = login.includes('@')
        ? await repo.findByVerifiedEmail(login)
        : await repo.findByUsername(login)
      if (resetCounts !== undefined) await countResetRequest(resetCounts, login, found?.id)
      await db.transaction().execute(async (trx) => {
        const account = found?.disabled === 0 ? verified(found) : undefined
        const tokens = createAccountTokensRepository(trx)
        // The links actually mailed, from the database: a backstop for when the counters are
        // each instance's own (Redis unreachable).
        const recent = await tokens.countSince(account?.id ?? NO_ACCOUNT, 'password_reset', since)
        const allowed = resetCounts === undefined || recent < RESETS_PER_ACCOUNT_HOUR
        if (account !== undefined && allowed) await queueResetLink(trx, account, token, now)
        else {
          // A row no link points at, so both paths write alike; it expires unused.
          await tokens.insert({
            token_hash: hashToken(token),
            user_id: null,
            purpose: 'password_reset',
            email: '',
            created_at: now,
            expires_at: isoAfterSeconds(deps.passwordResetTtl),
            used_at: null,
          })
        }
        await createAuditLog(trx).record('password.reset.request', found?.id ?? null, {
          ip: client.ip,
          mailed: String(account !== undefined && allowed),
        })
      })
      // Delivery is not woken (mail.queued()): where it runs on this thread, waking it for a
      // real request only would make that answer slower. Its next poll, within a second,
      // sends the mail.
    },

    /**
     * Spends a reset link and sets the new password; every session of the user ends and every
     * API key is revoked (API.md §9), and the address is told. A password the rules refuse
     * spends nothing.
     */
    async confirmReset(token: string, newPassword: string): Promise<void> {
      checkPasswordPolicy(newPassword, deps.passwordMinLength, 'new_password')
      const passwordHash = await hashPassword(newPassword)
      const userId = await db.transaction().execute(async (trx) => {
        const used = await createAccountTokensRepository(trx).use(
          hashToken(token),
          'password_reset',
          nowIso(),
        )
        if (used === undefined) throw invalidToken()
        const row = await createUsersRepository(trx, dialect).findForUpdate(used.userId)
        // A link for an address the account no longer has verified does nothing.
        if (verified(row)?.email_normalised !== used.email || row === undefined) {
          throw invalidToken()
        }
        await replacePassword(trx, row, passwordHash)
        await credentials.revokeApiKeys(row.id, row.id, trx)
        await createAuditLog(trx).record('password.reset', row.id, {})
        return row.id
      })
      await credentials.passwordReplaced(userId)
      mail.queued()
    },

    /** An admin mails the user a reset link; 409 when the user has no verified address. */
    async adminSendReset(actorId: string, userId: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const row = await createUsersRepository(trx, dialect).findById(userId)
        if (row === undefined) throw userNotFound()
        const account = verified(row)
        if (account === undefined) {
          throw new AppError('NO_VERIFIED_EMAIL', 'The user has no verified email address')
        }
        await queueResetLink(trx, account, randomToken(), nowIso())
        await createAuditLog(trx).record('password.reset.request', actorId, {
          user_id: userId,
          mailed: 'true',
        })
      })
      mail.queued()
    },

    /**
     * An admin sets the password (a user without a verified address): every session ends; the
     * API keys stay, as after a password change, for the user to review.
     */
    async adminSetPassword(actorId: string, userId: string, newPassword: string): Promise<void> {
      checkPasswordPolicy(newPassword, deps.passwordMinLength, 'new_password')
      const passwordHash = await hashPassword(newPassword)
      await db.transaction().execute(async (trx) => {
        const row = await createUsersRepository(trx, dialect).findForUpdate(userId)
        if (row === undefined) throw userNotFound()
        await replacePassword(trx, row, passwordHash)
        await createAuditLog(trx).record('password.set_by_admin', actorId, { user_id: userId })
      })
      await credentials.passwordReplaced(userId)
      mail.queued()
    },

    async pruneExpired(): Promise<void> {
      await createAccountTokensRepository(db).deleteExpired(nowIso())
    },
  }
}
