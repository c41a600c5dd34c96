import type { ProblemTable } from '../core/problems.js'

export const SUBSCRIBER_PROBLEMS = {
  SUBSCRIBER_NOT_FOUND: { status: 404, title: 'Not found' },
  SUBSCRIBER_EMAIL_TAKEN: { status: 409, title: 'Email already subscribed' },
  INVALID_SUBSCRIBER_TOKEN: { status: 400, title: 'Invalid token' },
} as const satisfies ProblemTable
