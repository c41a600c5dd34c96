import type { ProblemTable } from '../core/problems.js'

export const CAMPAIGN_PROBLEMS = {
  CAMPAIGN_NOT_FOUND: { status: 404, title: 'Not found' },
} as const satisfies ProblemTable
