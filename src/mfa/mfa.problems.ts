import type { ProblemTable } from '../core/problems.js'

export const MFA_PROBLEMS = {
  MFA_NOT_SET_UP: { status: 400, title: 'Two-factor login is not set up' },
  INVALID_MFA_CODE: { status: 400, title: 'Invalid code' },
  // The code step of a login: the same 401 for a wrong code and a dead mfa_token.
  MFA_LOGIN_FAILED: { status: 401, title: 'Invalid code', challenge: 'bearer' },
  MFA_ALREADY_ENABLED: { status: 409, title: 'Two-factor login is already on' },
} as const satisfies ProblemTable
