import type { FastifyRequest } from 'fastify'
import { AppError } from '../core/errors.js'

export const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * A browser attaches Basic credentials it has cached to any request to this site, also one
 * that a page elsewhere makes it send (a form post, a body-less fetch): a cross-site write
 * carrying them is refused, as a cookie-authenticated one is without its CSRF token.
 * `trustedOrigins`: PUBLIC_URL's and CORS_ORIGINS.
 */
export function crossSiteWriteCheck(
  trustedOrigins: readonly string[],
): (request: FastifyRequest) => void {
  const trusted = new Set(trustedOrigins)
  return (request) => {
    if (!UNSAFE_METHODS.has(request.method)) return
    const origin = request.headers.origin
    if (
      request.headers['sec-fetch-site'] === 'cross-site' ||
      (origin !== undefined && !trusted.has(origin))
    ) {
      throw new AppError(
        'FORBIDDEN',
        'A cross-site request may not write with credentials the browser sent by itself',
      )
    }
  }
}
