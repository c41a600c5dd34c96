import { AUTH_PROBLEMS } from './auth/auth.problems.js'
import { CAMPAIGN_PROBLEMS } from './campaigns/campaigns.problems.js'
import { CORE_PROBLEMS, type ProblemKind } from './core/problems.js'
import { MFA_PROBLEMS } from './mfa/mfa.problems.js'
import { RECOVERY_PROBLEMS } from './recovery/recovery.problems.js'
import { SUBSCRIBER_PROBLEMS } from './subscribers/subscribers.problems.js'
import { TODO_PROBLEMS } from './todos/todos.problems.js'
import { USER_PROBLEMS } from './users/users.problems.js'

/**
 * Every problem code the service answers with, and its one status and title: the core's and
 * each feature's, declared beside the feature (as `database.ts` composes the tables).
 */
const TABLE = {
  ...CORE_PROBLEMS,
  ...AUTH_PROBLEMS,
  ...USER_PROBLEMS,
  ...TODO_PROBLEMS,
  ...SUBSCRIBER_PROBLEMS,
  ...CAMPAIGN_PROBLEMS,
  ...RECOVERY_PROBLEMS,
  ...MFA_PROBLEMS,
} as const

export type ErrorCode = keyof typeof TABLE

export const PROBLEMS: Readonly<Record<ErrorCode, ProblemKind>> = TABLE
