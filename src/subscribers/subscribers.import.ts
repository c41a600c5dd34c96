import { pipeline, type Readable, Transform } from 'node:stream'
import { parse } from 'csv-parse'
import { stringify } from 'csv-stringify'
import { AppError } from '../core/errors.js'
import type { Subscriber } from './subscribers.schemas.js'

/** One row of an import: its fields, or why it could not be read. `line` is 1-based. */
export type ImportRecord =
  | { line: number; name: unknown; email: unknown }
  | { line: number; error: string }

const badImport = (detail: string) =>
  new AppError('VALIDATION_FAILED', detail, {
    errors: [{ path: 'body', message: detail }],
  })

/** The largest import, in bytes, unless BODY_LIMIT is larger: 400,000 typical lines. */
export const IMPORT_BODY_LIMIT = 16 * 1024 * 1024

const PIECE = 64 * 1024

const importTooLarge = (limit: number) =>
  new AppError(
    'PAYLOAD_TOO_LARGE',
    `An import is at most ${limit} bytes; split the file`,
    // The rest of the body is not read: the client must not send it on this connection.
    { headers: { connection: 'close' } },
  )

/**
 * The import body as it arrives, ended with a 413 once it passes `limit` bytes. Fastify's body
 * limit only covers bodies it reads itself, and the import's is streamed to the parsers; a
 * declared Content-Length over the limit is refused before anything is read.
 */
export function limitImportBody(
  payload: Readable,
  declaredLength: number,
  limit: number,
): Readable | AppError {
  if (declaredLength > limit) return importTooLarge(limit)
  let received = 0
  const limited = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length
      if (received > limit) return callback(importTooLarge(limit))
      // The CSV parser turns a whole chunk into records at once, before back-pressure can act:
      // pieces of a socket read's size keep that to a few thousand records at a time.
      for (let at = 0; at < chunk.length; at += PIECE) this.push(chunk.subarray(at, at + PIECE))
      callback()
    },
  })
  // A client that goes away mid-upload ends the import with an error, not a hang.
  return pipeline(payload, limited, () => {})
}

/** CSV with a header naming `name` and `email` (header is line 1), parsed as it streams. */
export async function* csvRecords(body: Readable): AsyncGenerator<ImportRecord> {
  const parser = parse({
    bom: true,
    trim: true,
    skip_empty_lines: true,
    relax_column_count: true,
    // A malformed line is reported and passed over; the good lines after it still count.
    skip_records_with_error: true,
    info: true,
    columns: (header: string[]) => {
      const names = header.map((name) => name.toLowerCase())
      if (!names.includes('name') || !names.includes('email')) {
        throw badImport('The CSV header must name the columns name and email')
      }
      return names
    },
  })
  // Pushed into the parser's own output, in order with the records and under its back-pressure:
  // kept aside instead, a body of nothing but bad lines piled them all up in memory. One line
  // can fail more than once (a stray quote): it is reported once.
  let lastSkipped = 0
  parser.on('skip', (error: Error & { lines?: number }) => {
    const line = error.lines ?? 0
    if (line === lastSkipped) return
    lastSkipped = line
    const skipped: ImportRecord = {
      line,
      error: `unreadable CSV: ${error.message.slice(0, 200)}`,
    }
    parser.push({ skipped })
  })
  body.on('error', (error) => parser.destroy(error))
  body.pipe(parser)
  try {
    for await (const chunk of parser as AsyncIterable<
      { record: Record<string, unknown>; info: { lines: number } } | { skipped: ImportRecord }
    >) {
      if ('skipped' in chunk) yield chunk.skipped
      else yield { line: chunk.info.lines, name: chunk.record.name, email: chunk.record.email }
    }
  } catch (error) {
    if (error instanceof AppError) throw error
    throw badImport(`The CSV could not be read: ${(error as Error).message}`)
  }
}

/**
 * A JSON array of `{name, email}` objects, read element by element: the scanner keeps one
 * element's text at a time, never the whole array. `line` is the element's 1-based position.
 * An element that is not an object (a string, a number, an array, null) is an error for its
 * line, like any other bad line; only a body that is not an array at all is refused.
 */
export async function* jsonRecords(body: Readable): AsyncGenerator<ImportRecord> {
  let started = false
  let ended = false
  // Inside an element: `depth` counts open brackets; a bare value (number, true, null, or
  // garbage) ends at the next comma, bracket or space.
  let inElement = false
  let bare = false
  let depth = 0
  let inString = false
  let escaped = false
  let element = ''
  let index = 0
  const MAX_ELEMENT = 10_000
  const isSpace = (c: string | undefined) => c === ' ' || c === '\n' || c === '\r' || c === '\t'
  for await (const chunk of body as AsyncIterable<Buffer | string>) {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8')
    let from = 0
    const finish = (to: number) => {
      element += text.slice(from, to)
      index += 1
      const record = parseElement(element, index)
      element = ''
      inElement = false
      bare = false
      return record
    }
    for (let i = 0; i < text.length; i++) {
      const c = text[i]
      if (ended) {
        if (!isSpace(c)) throw badImport('Trailing data after the JSON array')
        continue
      }
      if (!started) {
        if (c === '[') started = true
        else if (!isSpace(c) && c !== '\ufeff') throw badImport('Expected a JSON array')
        continue
      }
      if (!inElement) {
        if (c === ']') ended = true
        else if (c === ',' || isSpace(c)) continue
        else {
          inElement = true
          from = i
          element = ''
          if (c === '{' || c === '[') depth = 1
          else if (c === '"') inString = true
          else bare = true
        }
        continue
      }
      if (bare) {
        if (c === ',' || c === ']' || isSpace(c)) {
          yield finish(i)
          if (c === ']') ended = true
        }
        continue
      }
      if (inString) {
        if (escaped) escaped = false
        else if (c === '\\') escaped = true
        else if (c === '"') {
          inString = false
          if (depth === 0) yield finish(i + 1)
        }
        continue
      }
      if (c === '"') inString = true
      else if (c === '{' || c === '[') depth += 1
      else if (c === '}' || c === ']') {
        depth -= 1
        if (depth === 0) yield finish(i + 1)
      }
    }
    if (inElement) {
      element += text.slice(from)
      if (element.length > MAX_ELEMENT) throw badImport(`Element ${index + 1} is too large`)
    }
  }
  if (!started || !ended) throw badImport('The JSON array is incomplete')
}

function parseElement(text: string, line: number): ImportRecord {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { line, error: 'not valid JSON' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { line, error: 'not an object with name and email' }
  }
  const fields = value as Record<string, unknown>
  const extra = Object.keys(fields).filter((key) => key !== 'name' && key !== 'email')
  if (extra.length > 0) return { line, error: `unknown field ${extra[0]}` }
  return { line, name: fields.name, email: fields.email }
}

/** Subscribers as CSV, row by row. */
export function exportCsv(subscribers: AsyncIterable<Subscriber>): Readable {
  const out = stringify({
    header: true,
    columns: ['id', 'name', 'email', 'status', 'created_at', 'confirmed_at'],
    // Spreadsheets run a cell that starts like a formula (`=`, `+`, `-`, `@`, tab, CR and their
    // full-width forms); a leading quote keeps it text (OWASP CSV injection). Every column, as
    // an address may start with `-`, `+` or `=` too.
    escape_formulas: true,
  })
  void (async () => {
    try {
      for await (const s of subscribers) {
        if (out.destroyed) return
        const row = [s.id, s.name, s.email, s.status, s.created_at, s.confirmed_at ?? '']
        if (!out.write(row)) {
          // Wait for the client to read on; stop if it went away.
          await new Promise((resolve) => {
            out.once('drain', resolve)
            out.once('close', resolve)
          })
        }
      }
      out.end()
    } catch (error) {
      out.destroy(error as Error)
    }
  })()
  return out
}
