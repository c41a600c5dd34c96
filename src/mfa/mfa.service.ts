import type { Kysely } from 'kysely'
import { generateSecret, generateURI, verify } from 'otplib'
import { createAuditLog } from '../audit/audit.repository.js'
import type { TokenPair } from '../auth/auth.schemas.js'
import type { ClientInfo } from '../auth/client-info.js'
import { type CredentialGuard, guardedCheck } from '../auth/credential-guard.js'
import type { IdentityCache } from '../auth/identity-cache.js'
import type { PasswordCheck } from '../auth/password-check.js'
import type { CookieSession, SessionsService } from '../auth/sessions.service.js'
import type { Caller } from '../core/caller.js'
import type { DialectName } from '../core/db.js'
import { AppError } from '../core/errors.js'
import { hashToken } from '../core/opaque-tokens.js'
import { nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import { createUsersRepository } from '../users/users.repository.js'
import type { UserRow } from '../users/users.table.js'
import {
  createRecoveryCodeHasher,
  isRecoveryCodeShape,
  newRecoveryCodes,
  normaliseCode,
  type SecretBox,
} from './mfa.crypto.js'
import { createMfaRepository } from './mfa.repository.js'
import type { RecoveryCodes, TotpSetUp } from './mfa.schemas.js'
import type { MfaChallengeKind, MfaTotpRow } from './mfa.table.js'

const ISSUER = 'Gatehouse'
/** ±1 step of 30 s (API.md §10). */
const TOLERANCE_SECONDS = 30

type SecondFactor = 'totp' | 'recovery_code'

const wrongCode = () => new AppError('INVALID_MFA_CODE', 'The code is wrong or was already used')
const notSetUp = (detail: string) => new AppError('MFA_NOT_SET_UP', detail)
const loginFailed = (detail: string) => new AppError('MFA_LOGIN_FAILED', detail)
const DEAD_TOKEN =
  'The mfa_token is unknown, already used, expired (5 minutes) or failed 5 times: log in again'

export type MfaService = ReturnType<typeof createMfaService>

/** Two-factor login with TOTP (RFC 6238) and recovery codes (API.md §10). */
export function createMfaService(deps: {
  db: Kysely<Database>
  dialect: DialectName
  /** Seals the TOTP secrets at rest. */
  secrets: SecretBox
  /** The server secret: recovery codes are kept as keyed hashes of it. */
  serverSecret: Buffer
  /** Every code counts toward the credential-guessing limits (API.md §3). */
  guard: CredentialGuard
  passwords: Pick<PasswordCheck, 'current'>
  sessions: Pick<
    SessionsService,
    'endAll' | 'loginAfterSecondFactor' | 'cookieSessionAfterSecondFactor'
  >
  identities: Pick<IdentityCache, 'forget'>
}) {
  const { db, dialect, secrets, guard, passwords, sessions, identities } = deps
  const hashRecoveryCode = createRecoveryCodeHasher(deps.serverSecret)
  const mfa = createMfaRepository(db)
  const users = createUsersRepository(db, dialect)
  const audit = createAuditLog(db)

  async function userOf(caller: Caller): Promise<UserRow> {
    const row = await users.findById(caller.principal.id)
    if (row === undefined) throw new AppError('UNAUTHENTICATED', 'The user no longer exists')
    return row
  }

  /** Whether `code` is a current TOTP code of `totp` not used before; records its step. */
  async function totpMatches(totp: MfaTotpRow, code: string): Promise<boolean> {
    if (!/^\d{6}$/.test(code)) return false
    const result = await verify({
      secret: secrets.open(totp.user_id, totp.secret_encrypted),
      token: code,
      epochTolerance: TOLERANCE_SECONDS,
      afterTimeStep: totp.last_step,
    })
    // A TOTP result names its time-step (HOTP's, of the same union type, does not).
    if (!result.valid || !('timeStep' in result)) return false
    return mfa.advanceStep(totp.user_id, result.timeStep)
  }

  /**
   * Checks a second factor under the credential guard (a 429 before any check when a limit
   * holds; a wrong code counts like a wrong password) and audits a wrong one. `totp` is the
   * authenticator to check against (pending only while confirming); recovery codes only where
   * `recovery` says.
   */
  async function checkCode(
    user: UserRow,
    totp: MfaTotpRow,
    typed: string,
    client: ClientInfo,
    options: { recovery: boolean },
  ): Promise<SecondFactor | undefined> {
    const code = normaliseCode(typed)
    let method: SecondFactor | undefined
    await guardedCheck(guard, user.username, client.address, async () => {
      if (await totpMatches(totp, code)) method = 'totp'
      else if (
        options.recovery &&
        isRecoveryCodeShape(code) &&
        (await mfa.useRecoveryCode(user.id, hashRecoveryCode(code), nowIso()))
      ) {
        method = 'recovery_code'
      }
      return method !== undefined
    })
    if (method === undefined) await audit.record('mfa.failure', user.id, { ip: client.ip })
    else if (method === 'recovery_code') {
      await audit.record('mfa.recovery_code', user.id, { ip: client.ip })
    }
    return method
  }

  /** The user's confirmed authenticator; 400 when two-factor is off. */
  async function confirmedTotp(user: UserRow): Promise<MfaTotpRow> {
    const totp = await mfa.findTotp(user.id)
    if (user.mfa_enabled !== 1 || totp?.confirmed_at == null) {
      throw notSetUp('Two-factor login is not on for this account')
    }
    return totp
  }

  /** A new set of recovery codes in `trx`; the plain codes, to show once. */
  async function replaceRecoveryCodes(trx: Kysely<Database>, userId: string): Promise<string[]> {
    const codes = newRecoveryCodes()
    await createMfaRepository(trx).replaceRecoveryCodes(
      userId,
      codes.map(hashRecoveryCode),
      nowIso(),
    )
    return codes
  }

  /** Two-factor off inside `trx`: authenticator, recovery codes and pending logins gone. */
  async function turnOff(trx: Kysely<Database>, userId: string): Promise<void> {
    const now = nowIso()
    const repo = createMfaRepository(trx)
    await repo.deleteTotp(userId)
    await repo.deleteRecoveryCodes(userId)
    await repo.endChallenges(userId, now)
    await createUsersRepository(trx, dialect).update(userId, { mfa_enabled: 0, updated_at: now })
  }

  /** The code step of a login: a live `mfa_token` of `kind` and a right code, else 401. */
  async function secondStep(
    mfaToken: string,
    typed: string,
    kind: MfaChallengeKind,
    client: ClientInfo,
  ): Promise<{ user: UserRow; passwordChangedAt: string; method: SecondFactor }> {
    const tokenHash = hashToken(mfaToken)
    const challenge = await mfa.findLiveChallenge(tokenHash, kind, nowIso())
    if (challenge === undefined) throw loginFailed(DEAD_TOKEN)
    const user = await users.findById(challenge.user_id)
    const totp = await mfa.findTotp(challenge.user_id)
    if (user === undefined || user.mfa_enabled !== 1 || totp?.confirmed_at == null) {
      throw loginFailed(DEAD_TOKEN)
    }
    const method = await checkCode(user, totp, typed, client, { recovery: true })
    if (method === undefined) {
      await mfa.failChallenge(tokenHash, nowIso())
      throw loginFailed('The code is wrong or was already used')
    }
    if (!(await mfa.spendChallenge(tokenHash, nowIso()))) throw loginFailed(DEAD_TOKEN)
    return { user, passwordChangedAt: challenge.password_changed_at, method }
  }

  return {
    /**
     * Starts setting up an authenticator: a new secret, pending until a first code confirms
     * it. The only answer that ever holds the secret.
     */
    async startSetUp(caller: Caller, password: string, client: ClientInfo): Promise<TotpSetUp> {
      await passwords.current(caller.principal, password, client)
      const user = await userOf(caller)
      if (user.mfa_enabled === 1) {
        throw new AppError(
          'MFA_ALREADY_ENABLED',
          'Two-factor login is already on; turn it off first',
        )
      }
      const secret = generateSecret({ length: 20 })
      await mfa.replacePendingTotp(user.id, secrets.seal(user.id, secret), nowIso())
      const otpauthUri = `${generateURI({ issuer: ISSUER, label: user.username, secret })}&algorithm=SHA1&digits=6&period=30`
      return { secret, otpauth_uri: otpauthUri }
    },

    /**
     * Confirms the pending authenticator with a first code: two-factor is on, ten recovery
     * codes are made (shown once), and every other session of the user ends.
     */
    async confirm(caller: Caller, code: string, client: ClientInfo): Promise<RecoveryCodes> {
      const user = await userOf(caller)
      if (user.mfa_enabled === 1) {
        throw new AppError('MFA_ALREADY_ENABLED', 'Two-factor login is already on')
      }
      const totp = await mfa.findTotp(user.id)
      if (totp === undefined || totp.confirmed_at !== null) {
        throw notSetUp('Start with POST /api/v1/profile/mfa/totp first')
      }
      if ((await checkCode(user, totp, code, client, { recovery: false })) === undefined) {
        throw wrongCode()
      }
      const codes = await db.transaction().execute(async (trx) => {
        // Only the authenticator this code was checked against; a set-up started again
        // meanwhile (or a confirmation that won a race) leaves this one undone.
        if (
          !(await createMfaRepository(trx).confirmTotp(user.id, totp.secret_encrypted, nowIso()))
        ) {
          throw notSetUp('The set-up was replaced or already confirmed')
        }
        await createUsersRepository(trx, dialect).update(user.id, {
          mfa_enabled: 1,
          updated_at: nowIso(),
        })
        const made = await replaceRecoveryCodes(trx, user.id)
        await createAuditLog(trx).record('mfa.enable', user.id, { ip: client.ip })
        return made
      })
      identities.forget(user.id)
      await sessions.endAll(user.id, caller.sessionId)
      return { recovery_codes: codes }
    },

    /** Turns two-factor off: the password and a code (TOTP or recovery) are both needed. */
    async disable(
      caller: Caller,
      password: string,
      code: string,
      client: ClientInfo,
    ): Promise<void> {
      await passwords.current(caller.principal, password, client)
      const user = await userOf(caller)
      const totp = await confirmedTotp(user)
      if ((await checkCode(user, totp, code, client, { recovery: true })) === undefined) {
        throw wrongCode()
      }
      await db.transaction().execute(async (trx) => {
        await turnOff(trx, user.id)
        await createAuditLog(trx).record('mfa.disable', user.id, { ip: client.ip })
      })
      identities.forget(user.id)
    },

    /** A new set of ten recovery codes for a code; every earlier one dies. */
    async regenerateRecoveryCodes(
      caller: Caller,
      code: string,
      client: ClientInfo,
    ): Promise<RecoveryCodes> {
      const user = await userOf(caller)
      const totp = await confirmedTotp(user)
      if ((await checkCode(user, totp, code, client, { recovery: true })) === undefined) {
        throw wrongCode()
      }
      const codes = await db.transaction().execute((trx) => replaceRecoveryCodes(trx, user.id))
      return { recovery_codes: codes }
    },

    /** `POST /api/v1/auth/login/mfa`: the token pair for an `mfa_token` and its code. */
    async login(mfaToken: string, code: string, client: ClientInfo): Promise<TokenPair> {
      const done = await secondStep(mfaToken, code, 'tokens', client)
      return sessions.loginAfterSecondFactor(done.user, done.passwordChangedAt, client, done.method)
    },

    /** The web sign-in's code step (`POST /login/mfa`): a cookie session. */
    async cookieLogin(mfaToken: string, code: string, client: ClientInfo): Promise<CookieSession> {
      const done = await secondStep(mfaToken, code, 'cookie', client)
      return sessions.cookieSessionAfterSecondFactor(
        done.user,
        done.passwordChangedAt,
        client,
        done.method,
      )
    },

    /**
     * For `gatehouse user reset-mfa <username>` (a user who lost the authenticator and every
     * recovery code): two-factor off, recovery codes and pending logins gone, every session of
     * the user ends; audited as `mfa.disable` by `actorId` (`cli` from the command line). 404
     * `USER_NOT_FOUND` for no such user. Resetting a user with two-factor off still ends the
     * sessions. There is deliberately no HTTP route to it: a stolen admin token must not be
     * enough to strip a user's second factor.
     */
    async resetForUser(actorId: string, userId: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const row = await createUsersRepository(trx, dialect).findForUpdate(userId)
        if (row === undefined) throw new AppError('USER_NOT_FOUND', 'No such user')
        await turnOff(trx, userId)
        await createAuditLog(trx).record('mfa.disable', actorId, {
          user_id: userId,
          reason: 'reset',
        })
      })
      identities.forget(userId)
      await sessions.endAll(userId)
    },

    async pruneExpired(): Promise<void> {
      await mfa.deleteExpiredChallenges(nowIso())
    },
  }
}
