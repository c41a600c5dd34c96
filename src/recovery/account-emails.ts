import type { Kysely } from 'kysely'
import type { DialectName } from '../core/db.js'
import { hashToken, randomToken } from '../core/opaque-tokens.js'
import { isoAfterSeconds, nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import type { MailQueue } from '../mail/mail.delivery.js'
import { createUsersRepository } from '../users/users.repository.js'
import { normaliseEmail } from '../users/users.schemas.js'
import type { UserRow } from '../users/users.table.js'
import { accountMail, type MailText } from './recovery.mail.js'
import { createAccountTokensRepository } from './recovery.repository.js'

/** A verification link lives 48 hours (API.md §10). */
export const VERIFY_EMAIL_TTL_SECONDS = 48 * 60 * 60

export type AccountEmails = ReturnType<typeof createAccountEmails>

/**
 * The mails an account's address gets when it is set or changed, queued in the transaction of
 * that change (registration, PATCH /profile). Whether another account has confirmed an address
 * is never answered to the caller; the address's owner is told instead.
 */
export function createAccountEmails(deps: {
  mail: MailQueue
  dialect: DialectName
  publicUrl: string
}) {
  const { mail, dialect } = deps
  // Set when a mail was queued, so delivery is woken once the transaction committed.
  let queued = false

  async function send(trx: Kysely<Database>, to: string, text: MailText): Promise<void> {
    await mail.enqueue(trx, { name: '', email: to, ...text }, nowIso())
    queued = true
  }

  /** A new link for the account's current (unverified) address, earlier ones dead. */
  async function sendVerification(trx: Kysely<Database>, user: UserRow): Promise<void> {
    if (user.email === null || user.email_normalised === null) return
    const tokens = createAccountTokensRepository(trx)
    const now = nowIso()
    await tokens.spendAll(user.id, 'verify_email', now)
    const token = randomToken()
    await tokens.insert({
      token_hash: hashToken(token),
      user_id: user.id,
      purpose: 'verify_email',
      email: user.email_normalised,
      created_at: now,
      expires_at: isoAfterSeconds(VERIFY_EMAIL_TTL_SECONDS),
      used_at: null,
    })
    const link = `${deps.publicUrl}/verify-email?token=${encodeURIComponent(token)}`
    await send(trx, user.email, accountMail.verifyEmail(link, VERIFY_EMAIL_TTL_SECONDS))
  }

  /** Whether another account has confirmed `email` (its owner then gets a notice instead). */
  async function confirmedElsewhere(
    trx: Kysely<Database>,
    userId: string,
    email: string,
  ): Promise<boolean> {
    const holder = await createUsersRepository(trx, dialect).findByVerifiedEmail(email)
    return holder !== undefined && holder.id !== userId
  }

  return {
    /**
     * At registration, inside its transaction, for a user inserted without an address: an
     * address another account has confirmed is left off (that address is told someone tried);
     * any other is stored unverified and mailed its link.
     */
    async attachAtRegistration(trx: Kysely<Database>, user: UserRow, email: string): Promise<void> {
      const stored = email.normalize('NFC')
      if (await confirmedElsewhere(trx, user.id, stored)) {
        await send(trx, stored, accountMail.emailInUse())
        return
      }
      const updated = await createUsersRepository(trx, dialect).update(user.id, {
        email: stored,
        email_normalised: normaliseEmail(stored),
        email_verified: 0,
      })
      if (updated !== undefined) await sendVerification(trx, updated)
    },

    /**
     * After a change that named an address, inside its transaction: the old verified address
     * is told when it is replaced or removed; the new one gets its link (or, when another
     * account has confirmed it, a notice to that address, and it stays unverified here). The
     * same address, still unverified, gets a fresh link: that is how a user asks again.
     */
    async changed(before: UserRow, after: UserRow, trx: Kysely<Database>): Promise<void> {
      const replaced = before.email_normalised !== after.email_normalised
      if (replaced) {
        await createAccountTokensRepository(trx).spendAll(after.id, 'verify_email', nowIso())
        if (before.email !== null && before.email_verified === 1) {
          await send(trx, before.email, accountMail.emailChanged())
        }
      }
      if (after.email === null || after.email_verified === 1) return
      if (await confirmedElsewhere(trx, after.id, after.email)) {
        await send(trx, after.email, accountMail.emailInUse())
        return
      }
      await sendVerification(trx, after)
    },

    /** After the commit: delivery looks now rather than at its next poll. */
    flush(): void {
      if (!queued) return
      queued = false
      mail.queued()
    },
  }
}
