import type { AuditEventsTable } from './audit/audit.table.js'
import type {
  ApiKeysTable,
  RefreshTokensTable,
  RevokedTokensTable,
  SessionsTable,
  SigningKeysTable,
} from './auth/auth.table.js'
import type { CampaignsTable } from './campaigns/campaigns.table.js'
import type { IdempotencyKeysTable } from './core/idempotency.table.js'
import type { OutboxTable } from './mail/outbox.table.js'
import type { MfaChallengesTable, MfaRecoveryCodesTable, MfaTotpTable } from './mfa/mfa.table.js'
import type { AccountTokensTable } from './recovery/recovery.table.js'
import type { SubscribersTable, SubscriberTokensTable } from './subscribers/subscribers.table.js'
import type { TodosTable } from './todos/todos.table.js'
import type { UsersTable } from './users/users.table.js'

/** Every table, for Kysely's types. Each feature owns its table file. */
export interface Database {
  users: UsersTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
  revoked_tokens: RevokedTokensTable
  api_keys: ApiKeysTable
  audit_events: AuditEventsTable
  idempotency_keys: IdempotencyKeysTable
  todos: TodosTable
  subscribers: SubscribersTable
  subscriber_tokens: SubscriberTokensTable
  campaigns: CampaignsTable
  outbox: OutboxTable
  account_tokens: AccountTokensTable
  mfa_totp: MfaTotpTable
  mfa_recovery_codes: MfaRecoveryCodesTable
  mfa_challenges: MfaChallengesTable
  signing_keys: SigningKeysTable
}
