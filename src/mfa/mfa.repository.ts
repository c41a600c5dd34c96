import type { Kysely } from 'kysely'
import type { Database } from '../database.js'
import type {
  MfaChallengeKind,
  MfaChallengeRow,
  MfaTotpRow,
  NewMfaChallengeRow,
} from './mfa.table.js'

/** An `mfa_token` ends after this many wrong codes (API.md §10). */
export const MFA_TOKEN_MAX_FAILURES = 5

export type MfaRepository = ReturnType<typeof createMfaRepository>

/** Authenticators, recovery codes and `mfa_token`s; `db` may be a transaction. */
export function createMfaRepository(db: Kysely<Database>) {
  return {
    findTotp(userId: string): Promise<MfaTotpRow | undefined> {
      return db.selectFrom('mfa_totp').selectAll().where('user_id', '=', userId).executeTakeFirst()
    },

    /** A new pending authenticator in place of any earlier one (only while two-factor is off). */
    async replacePendingTotp(userId: string, secretEncrypted: string, now: string): Promise<void> {
      await db.deleteFrom('mfa_totp').where('user_id', '=', userId).execute()
      await db
        .insertInto('mfa_totp')
        .values({
          user_id: userId,
          secret_encrypted: secretEncrypted,
          created_at: now,
          confirmed_at: null,
          last_step: 0,
        })
        .execute()
    },

    /** Confirms the pending authenticator; false when it was confirmed or replaced meanwhile. */
    async confirmTotp(userId: string, secretEncrypted: string, now: string): Promise<boolean> {
      const result = await db
        .updateTable('mfa_totp')
        .set({ confirmed_at: now })
        .where('user_id', '=', userId)
        .where('secret_encrypted', '=', secretEncrypted)
        .where('confirmed_at', 'is', null)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    /**
     * Records `step` as used, only if it is later than every step used before: of two requests
     * with one code, or with a code and an earlier one, at most one gets through.
     */
    async advanceStep(userId: string, step: number): Promise<boolean> {
      const result = await db
        .updateTable('mfa_totp')
        .set({ last_step: step })
        .where('user_id', '=', userId)
        .where('last_step', '<', step)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    async deleteTotp(userId: string): Promise<void> {
      await db.deleteFrom('mfa_totp').where('user_id', '=', userId).execute()
    },

    /** The user's recovery codes become `hashes`; every earlier one dies. */
    async replaceRecoveryCodes(
      userId: string,
      hashes: readonly string[],
      now: string,
    ): Promise<void> {
      await db.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute()
      await db
        .insertInto('mfa_recovery_codes')
        .values(
          hashes.map((code_hash) => ({
            code_hash,
            user_id: userId,
            created_at: now,
            used_at: null,
          })),
        )
        .execute()
    },

    /** Spends an unused recovery code of the user; false if there is none such (or it raced). */
    async useRecoveryCode(userId: string, hash: string, now: string): Promise<boolean> {
      const result = await db
        .updateTable('mfa_recovery_codes')
        .set({ used_at: now })
        .where('code_hash', '=', hash)
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    async deleteRecoveryCodes(userId: string): Promise<void> {
      await db.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute()
    },

    async insertChallenge(row: NewMfaChallengeRow): Promise<void> {
      await db.insertInto('mfa_challenges').values(row).execute()
    },

    /** A live `mfa_token` of `kind`: not spent, not failed out, not expired. */
    findLiveChallenge(
      hash: string,
      kind: MfaChallengeKind,
      now: string,
    ): Promise<MfaChallengeRow | undefined> {
      return db
        .selectFrom('mfa_challenges')
        .selectAll()
        .where('token_hash', '=', hash)
        .where('kind', '=', kind)
        .where('ended_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst()
    },

    /** Spends a live `mfa_token`, once even when two right codes race. */
    async spendChallenge(hash: string, now: string): Promise<boolean> {
      const result = await db
        .updateTable('mfa_challenges')
        .set({ ended_at: now })
        .where('token_hash', '=', hash)
        .where('ended_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst()
      return result.numUpdatedRows > 0n
    },

    /** Counts a wrong code against an `mfa_token`; the fifth ends it (one write, so none slip by). */
    async failChallenge(hash: string, now: string): Promise<void> {
      await db
        .updateTable('mfa_challenges')
        .set((eb) => ({
          failures: eb('failures', '+', 1),
          ended_at: eb
            .case()
            .when('failures', '>=', MFA_TOKEN_MAX_FAILURES - 1)
            .then(now)
            .else(null)
            .end(),
        }))
        .where('token_hash', '=', hash)
        .where('ended_at', 'is', null)
        .execute()
    },

    /** Every live `mfa_token` of the user ends (two-factor turned off or reset). */
    async endChallenges(userId: string, now: string): Promise<void> {
      await db
        .updateTable('mfa_challenges')
        .set({ ended_at: now })
        .where('user_id', '=', userId)
        .where('ended_at', 'is', null)
        .execute()
    },

    async deleteExpiredChallenges(now: string): Promise<void> {
      await db.deleteFrom('mfa_challenges').where('expires_at', '<', now).execute()
    },
  }
}
