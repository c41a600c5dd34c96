import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto'
import type {
  FastifyReply,
  FastifyRequest,
  onSendHookHandler,
  preHandlerAsyncHookHandler,
} from 'fastify'
import type { Kysely } from 'kysely'
import { stringify as canonicalJson } from 'safe-stable-stringify'
import type { Database } from '../database.js'
import { callerKey } from './caller-key.js'
import { AppError } from './errors.js'
import {
  createIdempotencyKeysRepository,
  type IdempotencyKeyRow,
} from './idempotency.repository.js'
import { describeHook } from './route-docs.js'

const WINDOW_MS = 24 * 60 * 60 * 1000
const ABANDONED_CLAIM_MS = 60_000
const REPLAYED_HEADERS = ['content-type', 'location', 'etag'] as const

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyKey: { caller: string; key: string } | null
  }
}

export interface IdempotencyHooks {
  preHandler: preHandlerAsyncHookHandler
  onSend: onSendHookHandler
}

/**
 * `Idempotency-Key` for POSTs that create: the same key from the same caller within 24 hours
 * gets the first response again. The key is claimed with an insert before the handler runs, so
 * two concurrent retries cannot both create.
 */
export function createIdempotency(
  db: Kysely<Database>,
  secret: Buffer,
): IdempotencyHooks & { purgeExpired(): Promise<void> } {
  const keys = createIdempotencyKeysRepository(db)
  // A stored response can hold a secret shown once (a new API key's `key`): it is kept sealed
  // (AES-256-GCM, key bound to the caller and the Idempotency-Key), never in clear.
  const sealingKey = (caller: string, key: string) =>
    createHmac('sha256', secret)
      .update('idempotency:')
      .update(caller)
      .update('\0')
      .update(key)
      .digest()
  const seal = (caller: string, key: string, body: string): string => {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', sealingKey(caller, key), iv)
    const sealed = Buffer.concat([cipher.update(body, 'utf8'), cipher.final()])
    return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url')
  }
  const open = (caller: string, key: string, stored: string): string | undefined => {
    const bytes = Buffer.from(stored, 'base64url')
    try {
      const decipher = createDecipheriv(
        'aes-256-gcm',
        sealingKey(caller, key),
        bytes.subarray(0, 12),
      )
      decipher.setAuthTag(bytes.subarray(12, 28))
      return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8')
    } catch {
      return undefined
    }
  }

  // Keyed: a body can hold a password (register), and a plain SHA-256 of it at rest would make
  // guessing that password offline cheap. The body is hashed with its keys sorted, so the same
  // JSON with its members in another order is the same request.
  const requestHash = (request: FastifyRequest) =>
    createHmac('sha256', secret)
      .update('idempotency-request:')
      .update(`${request.method} ${request.url.split('?')[0]}\n`)
      .update(canonicalJson(request.body ?? null) ?? 'null')
      .digest('base64url')

  async function claim(
    caller: string,
    key: string,
    hash: string,
    retry: boolean,
  ): Promise<IdempotencyKeyRow | null> {
    if (await keys.claim(caller, key, hash)) return null
    const existing = await keys.find(caller, key)
    const createdAt = existing === undefined ? 0 : Date.parse(existing.created_at)
    // A claim still in flight after a minute belongs to a process that died mid-request: the
    // request never got an answer, so a retry may take the key over.
    const abandoned = existing?.status_code === 0 && createdAt < Date.now() - ABANDONED_CLAIM_MS
    if (existing === undefined || abandoned || createdAt < Date.now() - WINDOW_MS) {
      if (!retry) throw new AppError('IDEMPOTENCY_KEY_IN_FLIGHT', 'Retry the request')
      await keys.delete(caller, key, existing?.created_at ?? '')
      return claim(caller, key, hash, false)
    }
    return existing
  }

  const preHandler: preHandlerAsyncHookHandler = async (request, reply): Promise<void> => {
    const key = request.headers['idempotency-key']
    if (key === undefined) return
    if (typeof key !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(key)) {
      throw new AppError(
        'VALIDATION_FAILED',
        'Idempotency-Key must be 1–255 visible ASCII characters',
        {
          errors: [
            { path: 'headers/idempotency-key', message: 'must be 1–255 visible ASCII characters' },
          ],
        },
      )
    }
    const caller = callerKey(request)
    const hash = requestHash(request)
    const existing = await claim(caller, key, hash, true)
    if (existing === null) {
      request.idempotencyKey = { caller, key }
      return
    }
    if (existing.request_hash !== hash) {
      throw new AppError(
        'IDEMPOTENCY_KEY_REUSED',
        'This Idempotency-Key was used for a different request',
      )
    }
    if (existing.status_code === 0) {
      throw new AppError(
        'IDEMPOTENCY_KEY_IN_FLIGHT',
        'The first request with this Idempotency-Key is still in progress',
      )
    }
    replay(reply, existing, caller, key)
  }

  function replay(
    reply: FastifyReply,
    stored: IdempotencyKeyRow,
    caller: string,
    key: string,
  ): void {
    const body = open(caller, key, stored.body)
    if (body === undefined) {
      // Sealed under another secret (JWT_SECRET changed): the first response is gone.
      throw new AppError(
        'IDEMPOTENCY_KEY_REUSED',
        'The first response to this Idempotency-Key can no longer be replayed',
      )
    }
    const headers = JSON.parse(stored.headers) as Record<string, string>
    for (const [name, value] of Object.entries(headers)) reply.header(name, value)
    reply.header('idempotent-replayed', 'true')
    reply.code(stored.status_code).send(body)
  }

  const onSend: onSendHookHandler = async (request, reply, payload) => {
    const claimed = request.idempotencyKey
    if (!claimed) return payload
    request.idempotencyKey = null
    if (reply.statusCode >= 500 || typeof payload !== 'string') {
      await keys.delete(claimed.caller, claimed.key)
      return payload
    }
    const headers: Record<string, string> = {}
    for (const name of REPLAYED_HEADERS) {
      const value = reply.getHeader(name)
      if (typeof value === 'string') headers[name] = value
    }
    await keys.store(claimed.caller, claimed.key, {
      status_code: reply.statusCode,
      headers: JSON.stringify(headers),
      body: seal(claimed.caller, claimed.key, payload),
    })
    return payload
  }

  return {
    preHandler: describeHook(preHandler, {
      problems: {
        400: 'Idempotency-Key is not 1–255 visible ASCII characters',
        409: 'The first request with this Idempotency-Key is still in progress',
        422: 'This Idempotency-Key was used for a different request',
      },
      headers: {
        'Idempotency-Key':
          'Any 1–255 visible ASCII characters: the same key from the same caller within 24 hours answers the first response again (`Idempotent-Replayed: true`) and creates nothing new',
      },
    }),
    onSend,
    purgeExpired: () => keys.deleteCreatedBefore(new Date(Date.now() - WINDOW_MS).toISOString()),
  }
}
