import type { ProblemTable } from '../core/problems.js'

export const USER_PROBLEMS = {
  USER_NOT_FOUND: { status: 404, title: 'Not found' },
  LAST_ADMIN: { status: 409, title: 'Conflict' },
} as const satisfies ProblemTable
