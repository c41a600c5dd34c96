import type { FastifyInstance } from 'fastify'
import { AppError } from './errors.js'

/**
 * No request body of this API nests deeper than a few levels. Anything that walks a body
 * recursively (checks, hashing, serialising) would overflow the stack on 100,000 levels, a
 * 500; refusing deep bodies at the parser protects every walker, present and future.
 */
export const MAX_JSON_DEPTH = 32

const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d
const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * Whether JSON text opens more than `max` arrays or objects inside each other. A scan of the
 * text, before parsing: no tree of the refused body is ever built.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === BACKSLASH) i += 1
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) inString = true
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth += 1
      if (depth > max) return true
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth -= 1
  }
  return false
}

export const tooDeep = () =>
  new AppError('VALIDATION_FAILED', `body: nests deeper than ${MAX_JSON_DEPTH} levels`, {
    errors: [{ path: 'body', message: `must not nest deeper than ${MAX_JSON_DEPTH} levels` }],
  })

/** Fastify's own JSON parser (prototype-poisoning checks included), with a nesting limit. */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString()
    // No body at all, whatever the header says (clients often send it on every request): the
    // route's schema decides whether one was needed.
    if (text === '') return done(null, undefined)
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) return done(tooDeep(), undefined)
    parse(request, text, done)
  })
}
