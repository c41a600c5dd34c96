import type { ProblemTable } from '../core/problems.js'

export const RECOVERY_PROBLEMS = {
  INVALID_ACCOUNT_TOKEN: { status: 400, title: 'Invalid token' },
  NO_VERIFIED_EMAIL: { status: 409, title: 'Conflict' },
} as const satisfies ProblemTable
