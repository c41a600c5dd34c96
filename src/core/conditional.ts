import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from './errors.js'

/** A strong ETag over the resource's JSON: any visible change changes it. */
export function etagOf(resource: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(resource)).digest('base64url').slice(0, 27)}"`
}

/**
 * RFC 9110 §13.1: If-None-Match compares weakly (`W/"x"` matches `"x"`); If-Match strongly,
 * so a weak validator never allows a write.
 */
function listMatches(header: string, etag: string, strong: boolean): boolean {
  if (header.trim() === '*') return true
  const bare = etag.replace(/^W\//, '')
  return header.split(',').some((raw) => {
    const candidate = raw.trim()
    if (candidate.startsWith('W/')) return !strong && candidate.slice(2) === bare
    return candidate === bare
  })
}

/**
 * For GET of a single resource: sets `ETag`, and answers 304 when `If-None-Match` matches.
 * Returns true when the 304 was sent and the handler must not send a body.
 */
export function notModified(
  request: FastifyRequest,
  reply: FastifyReply,
  resource: unknown,
): boolean {
  const etag = etagOf(resource)
  reply.header('etag', etag)
  const ifNoneMatch = request.headers['if-none-match']
  if (ifNoneMatch !== undefined && listMatches(ifNoneMatch, etag, false)) {
    reply.code(304).send()
    return true
  }
  return false
}

/** For GET of a single resource: the resource to send, or the reply once it has sent a 304. */
export function orNotModified<T, R extends FastifyReply>(
  request: FastifyRequest,
  reply: R,
  resource: T,
): T | R {
  return notModified(request, reply, resource) ? reply : resource
}

/** A write's conditional headers, read in the route and handed to the service as data. */
export interface Preconditions {
  readonly ifMatch?: string | undefined
  readonly ifNoneMatch?: string | undefined
}

export function preconditionsOf(request: FastifyRequest): Preconditions {
  return { ifMatch: request.headers['if-match'], ifNoneMatch: request.headers['if-none-match'] }
}

/**
 * For PUT/PATCH/DELETE, checked by the service against the version inside the write's
 * transaction, in RFC 9110 §13.2.2's order: refuses the write (412) when `If-Match` names
 * another version, or when `If-None-Match` names this one (or is `*`: the resource exists).
 */
export function checkPreconditions(
  preconditions: Preconditions | undefined,
  current: unknown,
): void {
  const { ifMatch, ifNoneMatch } = preconditions ?? {}
  if (ifMatch === undefined && ifNoneMatch === undefined) return
  const etag = etagOf(current)
  if (ifMatch !== undefined && !listMatches(ifMatch, etag, true)) {
    throw new AppError(
      'PRECONDITION_FAILED',
      'The resource has changed since you read it (If-Match does not match its ETag)',
    )
  }
  if (ifNoneMatch !== undefined && listMatches(ifNoneMatch, etag, false)) {
    throw new AppError(
      'PRECONDITION_FAILED',
      'If-None-Match names the current version of the resource',
    )
  }
}

/** Sets the ETag of a resource sent after a write. */
export function withEtag<T>(reply: FastifyReply, resource: T): T {
  reply.header('etag', etagOf(resource))
  return resource
}
