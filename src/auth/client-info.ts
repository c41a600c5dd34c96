import type { FastifyRequest } from 'fastify'
import { clientAddressKey } from '../core/client-address.js'

/** Where a request comes from, as the credential checks and the audit log see it. */
export interface ClientInfo {
  readonly ip: string
  /** What limits count the client by: the IPv4 address, or the IPv6 /64 (core/client-address.ts). */
  readonly address: string
  readonly userAgent: string | undefined
}

export function clientInfo(request: FastifyRequest): ClientInfo {
  return {
    ip: request.ip,
    address: clientAddressKey(request.ip),
    userAgent: request.headers['user-agent'],
  }
}
