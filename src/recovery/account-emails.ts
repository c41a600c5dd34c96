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
/**
 * Mails about a new address one account may cause in an hour: a user changing their address
 * back and forth must not turn Gatehouse into a mail bomb aimed at someone else's inbox.
 */
const ADDRESS_MAILS_PER_HOUR = 5

export type AccountEmails = ReturnType<typeof createAccountEmails>

/** Another account that holds an address, and whether it has confirmed it. */
interface EmailHolder {
  verified: boolean
}

/**
 * The mails an account's address gets when it is set or changed, queued in the transaction of
 * that change (registration, PATCH /profile). Whether another account holds an address is never
 * answered to the caller; the address's owner is told instead.
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

  /**
   * One mail about `user`'s new address: its link, or (`holder`, another account holding it)
   * a notice to the address instead. Each is a row in account_tokens (the notice's is born
   * spent, as no link carries it), so they can be counted, and none is sent past the hourly
   * limit.
   */
  async function mailNewAddress(
    trx: Kysely<Database>,
    user: UserRow & { email: string; email_normalised: string },
    holder: EmailHolder | undefined,
  ): Promise<void> {
    const tokens = createAccountTokensRepository(trx)
    const now = nowIso()
    const since = new Date(Date.now() - 3_600_000).toISOString()
    if ((await tokens.countSince(user.id, 'verify_email', since)) >= ADDRESS_MAILS_PER_HOUR) return
    await tokens.spendAll(user.id, 'verify_email', now)
    const token = randomToken()
    await tokens.insert({
      token_hash: hashToken(token),
      user_id: user.id,
      purpose: 'verify_email',
      email: user.email_normalised,
      created_at: now,
      expires_at: isoAfterSeconds(VERIFY_EMAIL_TTL_SECONDS),
      used_at: holder === undefined ? null : now,
    })
    if (holder !== undefined) {
      const notice = holder.verified ? accountMail.emailInUse() : accountMail.emailClaimed()
      await send(trx, user.email, notice)
      return
    }
    const link = `${deps.publicUrl}/verify-email?token=${encodeURIComponent(token)}`
    await send(trx, user.email, accountMail.verifyEmail(link, VERIFY_EMAIL_TTL_SECONDS))
  }

  /** The row's address, when it has one it has not verified. */
  function unverifiedAddress(
    user: UserRow,
  ): (UserRow & { email: string; email_normalised: string }) | undefined {
    const { email, email_normalised } = user
    if (email === null || email_normalised === null || user.email_verified === 1) return undefined
    return { ...user, email, email_normalised }
  }

  /** Another account that has confirmed `email` (its owner then gets a notice instead). */
  async function confirmedElsewhere(
    trx: Kysely<Database>,
    userId: string,
    email: string,
  ): Promise<EmailHolder | undefined> {
    const holder = await createUsersRepository(trx, dialect).findByVerifiedEmail(email)
    return holder !== undefined && holder.id !== userId ? { verified: true } : undefined
  }

  return {
    /**
     * At registration, inside its transaction, for a user inserted without an address: an
     * address another account holds, verified or not (API.md §10: unique), is left off and told
     * someone tried; any other is stored unverified and mailed its link. Either way the caller
     * sees the same answer, in about the same time.
     */
    async attachAtRegistration(trx: Kysely<Database>, user: UserRow, email: string): Promise<void> {
      const stored = email.normalize('NFC')
      const typed = { ...user, email: stored, email_normalised: normaliseEmail(stored) }
      const holder = await createUsersRepository(trx, dialect).findEmailHolder(stored, user.id)
      if (holder !== undefined) {
        await mailNewAddress(trx, typed, { verified: holder.email_verified === 1 })
        return
      }
      await createUsersRepository(trx, dialect).update(user.id, {
        email: typed.email,
        email_normalised: typed.email_normalised,
        email_verified: 0,
      })
      await mailNewAddress(trx, typed, undefined)
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
      const address = unverifiedAddress(after)
      if (address === undefined) return
      await mailNewAddress(trx, address, await confirmedElsewhere(trx, after.id, address.email))
    },

    /** After the commit: delivery looks now rather than at its next poll. */
    flush(): void {
      if (!queued) return
      queued = false
      mail.queued()
    },
  }
}
