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
  options: {
    /**
     * Also trust the origin the request was sent to (its Host): for the sign-in forms, which no
     * cookie authenticates yet, so a page served under another name of this server (localhost
     * for 127.0.0.1) may sign in; a page of another site still may not.
     */
    ownOrigin?: boolean
  } = {},
): (request: FastifyRequest) => void {
  const trusted = new Set(trustedOrigins)
  const ownOrigin = options.ownOrigin === true
  return (request) => {
    if (!UNSAFE_METHODS.has(request.method)) return
    const origin = request.headers.origin
    if (
      request.headers['sec-fetch-site'] === 'cross-site' ||
      (origin !== undefined &&
        !trusted.has(origin) &&
        !(ownOrigin && origin === `${request.protocol}://${request.host}`))
    ) {
      throw new AppError(
        'FORBIDDEN',
        'A cross-site request may not write with credentials the browser sent by itself',
      )
    }
  }
}
