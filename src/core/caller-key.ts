import type { FastifyRequest } from 'fastify'
import { clientAddressKey } from './client-address.js'

/**
 * Who a request counts as, for the rate limits and for Idempotency-Key: a signed-in user as
 * themselves (after authentication), anyone else by address, an IPv6 client by its /64.
 */
export function callerKey(request: FastifyRequest): string {
  return request.caller === null
    ? `ip:${clientAddressKey(request.ip)}`
    : `user:${request.caller.principal.id}`
}

/** A limit that counts clients by address whoever they are (registrations, public signups). */
export function clientKey(prefix: string): (request: FastifyRequest) => string {
  return (request) => `${prefix}:${clientAddressKey(request.ip)}`
}
