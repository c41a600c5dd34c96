import { createHmac, timingSafeEqual } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { validationFailed } from './errors.js'

export const PageQuery = {
  limit: Type.Integer({
    minimum: 1,
    maximum: 100,
    default: 20,
    description: 'Items per page, 1–100',
  }),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 1024, description: 'Opaque cursor from `next_cursor`' }),
  ),
}

export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

export type CursorValue = string | number | null

/**
 * Keyset cursors: the last row's sort key and id, signed so that a cursor the server did
 * not issue is refused (400) instead of turning into an arbitrary query.
 */
export interface CursorCodec {
  encode(values: readonly CursorValue[]): string
  decode(cursor: string, arity: number): CursorValue[]
}

export function createCursorCodec(secret: Buffer): CursorCodec {
  const sign = (payload: string) =>
    createHmac('sha256', secret).update('cursor:').update(payload).digest().subarray(0, 16)
  const invalid = () =>
    validationFailed([{ path: 'query/cursor', message: 'was not issued by this server' }])
  return {
    encode(values) {
      const payload = Buffer.from(JSON.stringify(values)).toString('base64url')
      return `${payload}.${sign(payload).toString('base64url')}`
    },
    decode(cursor, arity) {
      const [payload, signature, ...rest] = cursor.split('.')
      if (payload === undefined || signature === undefined || rest.length > 0) throw invalid()
      // Compared as text: Node's base64url decoder skips characters outside the alphabet, so
      // comparing decoded bytes would accept altered forms of an issued cursor.
      const given = Buffer.from(signature)
      const expected = Buffer.from(sign(payload).toString('base64url'))
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid()
      let values: unknown
      try {
        values = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
      } catch {
        throw invalid()
      }
      if (
        !Array.isArray(values) ||
        values.length !== arity ||
        !values.every((v) => v === null || typeof v === 'string' || typeof v === 'number')
      ) {
        throw invalid()
      }
      return values as CursorValue[]
    },
  }
}

/** Fetch `limit + 1` rows; this trims the extra one and makes the cursor from the last kept row. */
export function toPage<Row, Item>(
  rows: readonly Row[],
  limit: number,
  toItem: (row: Row) => Item,
  cursorOf: (row: Row) => readonly CursorValue[],
  codec: CursorCodec,
): Page<Item> {
  const hasMore = rows.length > limit
  const kept = hasMore ? rows.slice(0, limit) : rows
  const last = kept[kept.length - 1]
  return {
    items: kept.map(toItem),
    next_cursor: hasMore && last !== undefined ? codec.encode(cursorOf(last)) : null,
  }
}

/**
 * The usual list: rows in id order after the cursor's id. Decodes the cursor, lets `fetch`
 * read `limit + 1` rows after it, and makes the page.
 */
export async function pageById<Row extends { id: string }, Item>(
  codec: CursorCodec,
  query: { limit: number; cursor?: string | undefined },
  fetch: (after: string | null) => Promise<readonly Row[]>,
  toItem: (row: Row) => Item,
): Promise<Page<Item>> {
  const after = query.cursor === undefined ? null : String(codec.decode(query.cursor, 1)[0])
  const rows = await fetch(after)
  return toPage(rows, query.limit, toItem, (row) => [row.id], codec)
}

/** Where a newest-first list goes on: below this (`created_at`, `id`). */
export interface NewestFirstPosition {
  createdAt: string
  id: string
}

/**
 * A list newest first by (`created_at`, `id`): decodes the cursor, lets `fetch` read
 * `limit + 1` rows below it, and makes the page. The cursor names its list, so another list's
 * cursor is refused (400) instead of being read as a position in this one.
 */
export async function pageNewestFirst<Row extends { id: string; created_at: string }, Item>(
  codec: CursorCodec,
  list: string,
  query: { limit: number; cursor?: string | undefined },
  fetch: (before: NewestFirstPosition | null) => Promise<readonly Row[]>,
  toItem: (row: Row) => Item,
): Promise<Page<Item>> {
  let before: NewestFirstPosition | null = null
  if (query.cursor !== undefined) {
    const [name, createdAt, id] = codec.decode(query.cursor, 3)
    if (name !== list || typeof createdAt !== 'string' || typeof id !== 'string') {
      throw validationFailed([{ path: 'query/cursor', message: 'belongs to another list' }])
    }
    before = { createdAt, id }
  }
  const rows = await fetch(before)
  return toPage(rows, query.limit, toItem, (row) => [list, row.created_at, row.id], codec)
}

/** A page whose items the database wrote as JSON text; `body` is the whole response body. */
export interface JsonPage {
  body: string | Buffer
  next_cursor: string | null
}

/**
 * `toPage` for rows the database serialised: each row is an item's JSON and its keyset
 * position as a JSON array. Only the last kept row's position is parsed, for the cursor.
 */
export function toJsonPage(
  rows: readonly { item: string; position: string }[],
  limit: number,
  cursorPrefix: readonly CursorValue[],
  codec: CursorCodec,
): JsonPage {
  const hasMore = rows.length > limit
  const kept = hasMore ? rows.slice(0, limit) : rows
  const last = kept[kept.length - 1]
  const nextCursor =
    hasMore && last !== undefined
      ? codec.encode([...cursorPrefix, ...(JSON.parse(last.position) as CursorValue[])])
      : null
  const items = kept.map((row) => row.item).join(',')
  return {
    body: `{"items":[${items}],"next_cursor":${nextCursor === null ? 'null' : JSON.stringify(nextCursor)}}`,
    next_cursor: nextCursor,
  }
}

/** Sets the page's `Link: rel="next"` (`setNextLink`) and returns the page, to be sent. */
export function withNextLink<P extends { next_cursor: string | null }>(
  request: FastifyRequest,
  reply: FastifyReply,
  page: P,
): P {
  setNextLink(request, reply, page.next_cursor)
  return page
}

/** RFC 8288 `Link: <…>; rel="next"` built from the request's own path and query. */
export function setNextLink(
  request: FastifyRequest,
  reply: FastifyReply,
  nextCursor: string | null,
): void {
  if (nextCursor === null) return
  // Only the query is parsed: a whole URL object costs a few µs more on every list page.
  const mark = request.url.indexOf('?')
  const path = mark < 0 ? request.url : request.url.slice(0, mark)
  const query = new URLSearchParams(mark < 0 ? '' : request.url.slice(mark + 1))
  query.set('cursor', nextCursor)
  query.delete('access_token')
  reply.header('link', `<${path}?${query}>; rel="next"`)
}
