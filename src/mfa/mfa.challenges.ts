import type { Kysely } from 'kysely'
import { MFA_TOKEN_TTL, type SecondFactorGate } from '../auth/sessions.service.js'
import { hashToken, randomToken } from '../core/opaque-tokens.js'
import { isoAfterSeconds, nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import { createMfaRepository } from './mfa.repository.js'

/**
 * What a login asks of two-factor when the password was right (app.ts gives it to auth): an
 * `mfa_token`, kept only as a hash, in the database so that any instance takes the code.
 */
export function createMfaChallenges(db: Kysely<Database>): SecondFactorGate {
  return {
    async challenge(user, kind) {
      const token = randomToken()
      await createMfaRepository(db).insertChallenge({
        token_hash: hashToken(token),
        user_id: user.id,
        kind,
        password_changed_at: user.password_changed_at,
        created_at: nowIso(),
        expires_at: isoAfterSeconds(MFA_TOKEN_TTL),
        failures: 0,
        ended_at: null,
      })
      return token
    },
  }
}
