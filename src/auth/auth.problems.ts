import type { ProblemTable } from '../core/problems.js'

export const AUTH_PROBLEMS = {
  INVALID_TOKEN: { status: 401, title: 'Invalid token', challenge: 'invalid_token' },
  TOKEN_EXPIRED: { status: 401, title: 'Token has expired', challenge: 'invalid_token' },
  INVALID_REFRESH_TOKEN: {
    status: 401,
    title: 'Invalid refresh token',
    challenge: 'invalid_token',
  },
  // Login answers with the Bearer challenge; a refused Basic header asks for Basic again.
  INVALID_CREDENTIALS: { status: 401, title: 'Invalid username or password', challenge: 'bearer' },
  // Right credentials, but the account has two-factor on: Basic cannot carry the code.
  MFA_BASIC_REFUSED: { status: 401, title: 'Two-factor login required', challenge: 'basic' },
  WRONG_PASSWORD: { status: 401, title: 'Invalid password', challenge: 'bearer' },
  WEAK_PASSWORD: { status: 400, title: 'Validation failed' },
  NO_SESSION_TO_END: { status: 400, title: 'No session to end' },
  ADMINS_ONLY: { status: 403, title: 'Admins only' },
  CSRF_FAILED: { status: 403, title: 'CSRF token missing or invalid' },
  SESSION_NOT_FOUND: { status: 404, title: 'Not found' },
  API_KEY_NOT_FOUND: { status: 404, title: 'Not found' },
  USERNAME_TAKEN: { status: 409, title: 'Username taken' },
} as const satisfies ProblemTable
