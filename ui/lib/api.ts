// The UI's one way to the API: the typed client of clients/typescript in cookie mode (the
// session cookie authenticates; the gh_csrf cookie's value goes in X-CSRF-Token on writes).
import {
  createGatehouseClient,
  type Problem,
  ProblemError,
  unwrap,
} from '../../clients/typescript/src/index.js'

export type {
  ApiKey,
  NewApiKey,
  RecoveryCodes,
  Session,
  Subscriber,
  Todo,
  TodoPage,
  TotpSetUp,
  User,
} from '../../clients/typescript/src/index.js'
export { ProblemError }

/** A cookie readable by script (gh_csrf is; the session cookie is HttpOnly and never is). */
export function cookie(name: string): string | undefined {
  for (const pair of document.cookie.split(';')) {
    const [key, ...value] = pair.trim().split('=')
    if (key === name) return decodeURIComponent(value.join('='))
  }
  return undefined
}

export const gatehouse = createGatehouseClient({
  baseUrl: location.origin,
  csrfToken: () => cookie('gh_csrf'),
})
export const api = gatehouse.api

/** To the sign-in form, which brings the browser back to this page afterwards. */
export function signInAgain(): void {
  location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`)
}

/** 401s that judge a password the user typed, not the session: the form shows them. */
const WRONG_INPUT = new Set(['WRONG_PASSWORD', 'INVALID_CREDENTIALS'])

/**
 * The data of a successful call, or a thrown error. Any other 401 means the session ended
 * (signed out elsewhere, expired, password changed): the browser goes to the sign-in form.
 */
export async function call<Data>(
  pending: Promise<{ data?: Data; error?: unknown; response: Response }>,
): Promise<Data> {
  try {
    return await unwrap(pending)
  } catch (error) {
    if (error instanceof ProblemError && error.status === 401 && !WRONG_INPUT.has(error.code ?? ''))
      signInAgain()
    throw error
  }
}

/** What a form shows of a failed call: a message beside each named field, and one overall. */
export interface FormProblem {
  readonly message: string
  readonly fields: Readonly<Record<string, string>>
}

const REQUIRED = /required property '([^']+)'/

/** The form field an `errors[].path` such as `body/title` (or `body` + "required property 'x'") names. */
function fieldOf(error: { path: string; message: string }): string | undefined {
  const [part, field] = error.path.split('/')
  if (part !== 'body' && part !== 'query') return undefined
  return field ?? REQUIRED.exec(error.message)?.[1]
}

function retryAfter(problem: Problem, response: Response): string {
  const seconds = Number(response.headers.get('retry-after'))
  const wait = Number.isFinite(seconds) && seconds > 0 ? ` Try again in ${seconds} s.` : ''
  return `${problem.detail || problem.title}.${wait}`
}

/** Turns any error of a call into what a form shows; never throws. */
export function formProblem(error: unknown): FormProblem {
  if (!(error instanceof ProblemError)) {
    return {
      message: 'The server could not be reached. Check the connection and try again.',
      fields: {},
    }
  }
  const { problem } = error
  const fields: Record<string, string> = {}
  for (const item of problem.errors ?? []) {
    const field = fieldOf(item)
    if (field !== undefined && fields[field] === undefined) {
      fields[field] = item.message.replace(REQUIRED, 'is required')
    }
  }
  if (problem.code === 'WRONG_PASSWORD') fields.current_password = 'is not your current password'
  if (problem.status === 429) return { message: retryAfter(problem, error.response), fields }
  if (Object.keys(fields).length > 0) {
    return { message: 'Please correct the marked fields.', fields }
  }
  return { message: problem.detail || problem.title, fields }
}

/**
 * Every item of a list, following `next_cursor` with full pages: for lists shown whole, such as
 * the account's own sessions and API keys, which are few.
 */
export async function everyItem<Item>(
  fetchPage: (query: { limit: number; cursor?: string }) => Promise<{
    items: Item[]
    next_cursor: string | null
  }>,
): Promise<Item[]> {
  const items: Item[] = []
  let cursor: string | null = null
  do {
    const page = await fetchPage(cursor === null ? { limit: 100 } : { limit: 100, cursor })
    items.push(...page.items)
    cursor = page.next_cursor
  } while (cursor !== null)
  return items
}

/** A key for one attempt at a create, so that a retry after a lost answer creates nothing twice. */
export function idempotencyKey(): string {
  return crypto.randomUUID()
}
