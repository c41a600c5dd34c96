/**
 * How a credential was presented, for counting refusals: the schemes of a request
 * (`bearer`, `query`, `api_key`, `basic`), the logins (`password`: JSON, `form`: the web UI),
 * a password confirming a change (`current_password`), and `none` (no credentials where they
 * are needed).
 */
export type CredentialScheme =
  | 'bearer'
  | 'query'
  | 'api_key'
  | 'basic'
  | 'password'
  | 'form'
  | 'current_password'
  | 'none'

/** Why credentials were refused: a fixed word, never who or what was sent. */
export type RefusalReason =
  | 'missing'
  | 'malformed'
  | 'unknown_user'
  | 'wrong_password'
  | 'disabled'
  | 'invalid'
  | 'expired'
  | 'revoked'
  | 'rate_limited'
  /** Basic for an account with two-factor on: a password alone does not do. */
  | 'mfa_required'

export type LoginResult = 'success' | 'failure' | 'rate_limited'

/**
 * What auth reports as it happens, for the metrics (app.ts wires src/metrics to it; without
 * metrics it is `quietAuthEvents`). Called on the request's path: must be cheap and never throw.
 */
export interface AuthEvents {
  refused(scheme: CredentialScheme, reason: RefusalReason): void
  /** A password login (JSON or the web UI's form) ended: a session, a refusal, or a limit. */
  login(result: LoginResult): void
}

export const quietAuthEvents: AuthEvents = { refused() {}, login() {} }
