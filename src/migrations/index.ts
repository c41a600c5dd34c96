import type { Migration } from 'kysely'
import * as core from './001_core.js'
import * as todos from './002_todos.js'
import * as mailing from './003_mailing.js'
import * as campaignQueue from './004_campaign_queue.js'
import * as apiKeyExpiryRange from './005_api_key_expiry_range.js'
import * as disabledUsersApiKeys from './006_disabled_users_api_keys.js'
import * as cookieSessions from './007_cookie_sessions.js'
import * as accountEmail from './008_account_email.js'
import * as mfaTotp from './009_mfa_totp.js'
import * as signingKeys from './010_signing_keys.js'
import * as authChanges from './011_auth_changes.js'
import * as outboxPendingIndex from './012_outbox_pending_index.js'
import * as emailHolderIndex from './013_email_holder_index.js'
import * as signingKeyChanges from './014_signing_key_changes.js'

/** Every migration in order; names sort in the order they must run. Append, never edit. */
export const migrations: Record<string, Migration> = {
  '001_core': core,
  '002_todos': todos,
  '003_mailing': mailing,
  '004_campaign_queue': campaignQueue,
  '005_api_key_expiry_range': apiKeyExpiryRange,
  '006_disabled_users_api_keys': disabledUsersApiKeys,
  '007_cookie_sessions': cookieSessions,
  '008_account_email': accountEmail,
  '009_mfa_totp': mfaTotp,
  '010_signing_keys': signingKeys,
  '011_auth_changes': authChanges,
  '012_outbox_pending_index': outboxPendingIndex,
  '013_email_holder_index': emailHolderIndex,
  '014_signing_key_changes': signingKeyChanges,
}
