import type { ProblemTable } from '../core/problems.js'

export const TODO_PROBLEMS = {
  TODO_NOT_FOUND: { status: 404, title: 'Not found' },
  DONE_ADMIN_ONLY: { status: 403, title: 'Forbidden' },
} as const satisfies ProblemTable
