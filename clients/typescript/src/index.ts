import createClient, { type Client } from 'openapi-fetch'
import type { components, operations, paths } from './schema.js'

export type { components, operations, paths }

/** The JSON an operation answers with `status`, by the operation's `operationId`. */
export type ResponseBody<
  Operation extends keyof operations,
  Status extends keyof operations[Operation]['responses'],
> = operations[Operation]['responses'][Status] extends {
  content: { 'application/json': infer Body }
}
  ? Body
  : never

type Schemas = components['schemas']
/** An RFC 9457 problem: how Gatehouse sends every error (`code` says which, `errors` which fields). */
export type Problem = Schemas['Problem']
export type TokenPair = Schemas['TokenPair']
export type User = Schemas['User']
export type Todo = Schemas['Todo']
export type TodoPage = Schemas['TodoPage']
export type Subscriber = Schemas['Subscriber']
export type Campaign = Schemas['Campaign']
export type Session = Schemas['Session']
export type ApiKey = Schemas['ApiKey']
export type NewApiKey = Schemas['NewApiKey']
/** A right password for an account with two-factor on: send the `mfa_token` with a code. */
export type MfaRequired = Schemas['MfaRequired']
export type TotpSetUp = Schemas['TotpSetUp']
export type RecoveryCodes = Schemas['RecoveryCodes']

/** An answer outside 2xx, as a thrown error that carries its problem. */
export class ProblemError extends Error {
  override readonly name = 'ProblemError'
  /** The answer itself, for its headers (`Retry-After`, `WWW-Authenticate`). */
  declare readonly response: Response

  constructor(
    readonly problem: Problem,
    response: Response,
  ) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`)
    // Not enumerable: a logged error shows its problem, not the whole Response.
    Object.defineProperty(this, 'response', { value: response, enumerable: false })
  }

  get status(): number {
    return this.problem.status
  }

  /** The problem's code (`TOKEN_EXPIRED`, `PRECONDITION_FAILED`, …); docs/errors.md lists them. */
  get code(): string | undefined {
    return this.problem.code
  }
}

function isProblem(value: unknown): value is Problem {
  if (typeof value !== 'object' || value === null) return false
  const { type, title, status, detail } = value as Record<string, unknown>
  return (
    typeof type === 'string' &&
    typeof title === 'string' &&
    typeof status === 'number' &&
    typeof detail === 'string'
  )
}

/**
 * The problem an error answer carries. An answer that is not one (a proxy's HTML page, a 304
 * without a body) gets the same shape, built from its status, so callers handle one type.
 */
export function problemOf(error: unknown, response: Response): Problem {
  if (isProblem(error)) return error
  return {
    type: 'about:blank',
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    detail: typeof error === 'string' ? error.slice(0, 500) : '',
  }
}

/**
 * The data of a successful answer, or a thrown `ProblemError`:
 * `const todo = await unwrap(gatehouse.api.GET('/api/v1/todos/{id}', { params: { path: { id } } }))`.
 */
export async function unwrap<Data>(
  pending: Promise<{ data?: Data; error?: unknown; response: Response }>,
): Promise<Data> {
  const { data, error, response } = await pending
  if (!response.ok) throw new ProblemError(problemOf(error, response), response)
  // openapi-fetch leaves data undefined only for answers without a body (204), typed so.
  return data as Data
}

/** What the client sends as `Authorization: Bearer`: an access token (and its refresh token), or an API key. */
export interface Tokens {
  readonly accessToken: string
  readonly refreshToken?: string | undefined
}

export interface GatehouseClientOptions {
  /** Where the server answers, such as `http://127.0.0.1:3000`; paths start with `/api/v1`. */
  readonly baseUrl: string
  /** Credentials to start with: a stored session's tokens, or `{ accessToken: 'gh_…' }` for an API key. */
  readonly tokens?: Tokens | undefined
  /** Called whenever the tokens change (login, refresh, logout), to store them. */
  readonly onTokens?: ((tokens: Tokens | undefined) => void) | undefined
  /** Another fetch (a test's, a proxy's); `globalThis.fetch` by default. */
  readonly fetch?: ((request: Request) => Promise<Response>) | undefined
  /**
   * Cookie mode, for a page served by Gatehouse itself: the browser's session cookie
   * authenticates, no `Authorization` header is sent (it would make the server ignore the
   * cookie), and every POST, PUT, PATCH and DELETE carries `X-CSRF-Token` with what this
   * returns — the value of the `gh_csrf` cookie. `tokens`, `login` and `refresh` do not apply.
   */
  readonly csrfToken?: (() => string | undefined) | undefined
}

export interface GatehouseClient {
  /**
   * Every operation of the API, typed from its OpenAPI document: paths, parameters, bodies,
   * answers and their problems. Returns `{ data, error, response }`; `unwrap` throws instead.
   */
  readonly api: Client<paths>
  /** The credentials sent now, if any. */
  readonly tokens: Tokens | undefined
  setTokens(tokens: Tokens | undefined): void
  /**
   * Logs in with a password and keeps the tokens for the calls that follow. For an account with
   * two-factor on the answer is `mfa_required` with an `mfa_token` instead: then `loginWithCode`.
   */
  login(username: string, password: string): Promise<TokenPair | MfaRequired>
  /** The second step of a login with two-factor on: the `mfa_token` and a code; keeps the tokens. */
  loginWithCode(mfaToken: string, code: string): Promise<TokenPair>
  /**
   * Swaps the refresh token for a new pair and keeps it. A refresh token works once, so calls
   * made while one is under way share it rather than spend the new token.
   */
  refresh(): Promise<TokenPair>
  /** Ends this session on the server and forgets the tokens. */
  logout(): Promise<void>
}

/** The methods that need the CSRF token when the session cookie authenticates them. */
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** A client of one Gatehouse server that sends the caller's token with every request. */
export function createGatehouseClient(options: GatehouseClientOptions): GatehouseClient {
  const cookieMode = options.csrfToken !== undefined
  const api = createClient<paths>({
    baseUrl: options.baseUrl,
    // Cookies go with same-origin requests only: a page on another origin gets no session.
    ...(cookieMode ? { credentials: 'same-origin' as const } : {}),
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
  })
  let tokens = options.tokens
  let refreshing: Promise<TokenPair> | undefined

  const setTokens = (next: Tokens | undefined) => {
    tokens = next
    options.onTokens?.(next)
  }
  const keep = (pair: TokenPair): TokenPair => {
    setTokens({ accessToken: pair.access_token, refreshToken: pair.refresh_token })
    return pair
  }

  const csrfToken = options.csrfToken
  api.use({
    onRequest({ request }) {
      if (csrfToken !== undefined) {
        const token = UNSAFE_METHODS.has(request.method) ? csrfToken() : undefined
        if (token !== undefined) request.headers.set('x-csrf-token', token)
        return request
      }
      // A header the caller set (another user's token, Basic) wins.
      if (tokens !== undefined && !request.headers.has('authorization'))
        request.headers.set('authorization', `Bearer ${tokens.accessToken}`)
      return request
    },
  })

  return {
    api,
    get tokens() {
      return tokens
    },
    setTokens,
    async login(username, password) {
      const answer = await unwrap(api.POST('/api/v1/auth/login', { body: { username, password } }))
      return 'mfa_required' in answer ? answer : keep(answer)
    },
    async loginWithCode(mfaToken, code) {
      return keep(
        await unwrap(api.POST('/api/v1/auth/login/mfa', { body: { mfa_token: mfaToken, code } })),
      )
    },
    refresh() {
      const refreshToken = tokens?.refreshToken
      if (refreshToken === undefined) {
        return Promise.reject(new Error('No refresh token: log in first (an API key needs none)'))
      }
      refreshing ??= unwrap(
        api.POST('/api/v1/auth/refresh', { body: { refresh_token: refreshToken } }),
      )
        .then(keep)
        .finally(() => {
          refreshing = undefined
        })
      return refreshing
    },
    async logout() {
      await unwrap(api.POST('/api/v1/auth/logout'))
      setTokens(undefined)
    },
  }
}
