/**
 * Every mail about an account, in one place: plain text, the product's name, and the link when
 * there is one. No mail holds a secret but its own link's token, nor anything a stranger typed
 * (an address in use is told that someone tried, not who or with what name).
 */
const PRODUCT = 'Gatehouse'

export interface MailText {
  readonly subject: string
  readonly text: string
}

function hours(seconds: number): string {
  if (seconds % 3600 === 0) return seconds === 3600 ? '1 hour' : `${seconds / 3600} hours`
  const minutes = Math.max(1, Math.round(seconds / 60))
  return minutes === 1 ? '1 minute' : `${minutes} minutes`
}

export const accountMail = {
  verifyEmail(link: string, ttlSeconds: number): MailText {
    return {
      subject: `Confirm your email address for ${PRODUCT}`,
      text: `Hello,\n\nthis address was given for an account on ${PRODUCT}. To confirm that it is yours, open this link:\n${link}\n\nThe link works once and expires in ${hours(ttlSeconds)}. If you did not ask for this, ignore this mail: the address stays unconfirmed and gets no more mail from us.\n`,
    }
  },

  /** Registration or a profile change named an address another account has confirmed. */
  emailInUse(): MailText {
    return {
      subject: `Your email address on ${PRODUCT}`,
      text: `Hello,\n\nsomeone (perhaps you) tried to use this address for another account on ${PRODUCT}. It already belongs to your account, so nothing has changed.\n\nIf you have forgotten your password, ask for a password reset: a link comes to this address.\n`,
    }
  },

  /**
   * Registration named an address another account has given but not confirmed: the address's
   * owner may be that account's, or someone whose address a stranger typed.
   */
  emailClaimed(): MailText {
    return {
      subject: `Your email address on ${PRODUCT}`,
      text: `Hello,\n\nsomeone (perhaps you) tried to use this address for a new account on ${PRODUCT}. Another account has already given this address, so the new account was made without it.\n\nIf that other account is yours, confirm the address with the link we mailed it (set the address again in your profile for a new link). If you have no account on ${PRODUCT}, someone gave your address without asking you: ignore this mail, or ask an administrator to remove it.\n`,
    }
  },

  /** To the old, verified address when the account's address changes or is removed. */
  emailChanged(): MailText {
    return {
      subject: `Your email address on ${PRODUCT} was changed`,
      text: `Hello,\n\nthe email address of your ${PRODUCT} account is no longer this one: it was changed or removed. If you did this, there is nothing to do.\n\nIf you did not, your account may be in someone else's hands: sign in and change your password, or ask an administrator for help.\n`,
    }
  },

  passwordReset(link: string, ttlSeconds: number): MailText {
    return {
      subject: `Reset your ${PRODUCT} password`,
      text: `Hello,\n\nsomeone (perhaps you) asked to reset the password of your ${PRODUCT} account. To choose a new password, open this link:\n${link}\n\nThe link works once and expires in ${hours(ttlSeconds)}. If you did not ask for this, ignore this mail: your password stays as it is.\n`,
    }
  },

  passwordChanged(): MailText {
    return {
      subject: `Your ${PRODUCT} password was changed`,
      text: `Hello,\n\nthe password of your ${PRODUCT} account was just changed, and every session of it was ended. If you did this, there is nothing to do.\n\nIf you did not, ask for a password reset at once (a link comes to this address), or ask an administrator for help.\n`,
    }
  },
}
