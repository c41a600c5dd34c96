import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { AppError, sendProblem } from '../core/errors.js'

/** This file's group of operations in the OpenAPI document. */
export const serviceTag = {
  name: 'service',
  description:
    "The API index, the tutorials' public and private pages, health and readiness probes, and the public keys of access tokens",
}

/** `GET /api/v1`: where everything is, so a client needs only this one URL. */
const LINKS = {
  self: '/api/v1',
  register: '/api/v1/auth/register',
  login: '/api/v1/auth/login',
  login_mfa: '/api/v1/auth/login/mfa',
  password_reset: '/api/v1/auth/password-reset',
  password_reset_confirm: '/api/v1/auth/password-reset/confirm',
  refresh: '/api/v1/auth/refresh',
  logout: '/api/v1/auth/logout',
  profile: '/api/v1/profile',
  password: '/api/v1/profile/password',
  email_verify: '/api/v1/profile/email/verify',
  mfa_totp: '/api/v1/profile/mfa/totp',
  recovery_codes: '/api/v1/profile/mfa/recovery-codes',
  sessions: '/api/v1/profile/sessions',
  api_keys: '/api/v1/profile/api-keys',
  users: '/api/v1/users',
  audit: '/api/v1/audit',
  todos: '/api/v1/todos',
  subscribers: '/api/v1/subscribers',
  campaigns: '/api/v1/campaigns',
  public: '/api/v1/public',
  private: '/api/v1/private',
  openapi: '/openapi.json',
  docs: '/docs',
  jwks: '/.well-known/jwks.json',
  health: '/healthz',
  ready: '/readyz',
}

const PUBLIC_PAGE = { message: 'This is a public page' }
const PRIVATE_PAGE = { meaning_of_life: 42 }

/** The versioned API's own endpoints: its index and the tutorials' public/private pair. */
export const apiIndexRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/',
    {
      schema: {
        tags: [serviceTag.name],
        operationId: 'getApiIndex',
        summary: 'Links to every collection, the docs and the auth endpoints',
        response: { 200: Type.Object({ links: Type.Record(Type.String(), Type.String()) }) },
      },
    },
    async () => ({ links: LINKS }),
  )

  app.get(
    '/public',
    {
      schema: {
        tags: [serviceTag.name],
        operationId: 'getPublic',
        summary: 'Anyone may read this',
        response: { 200: Type.Object({ message: Type.String() }) },
      },
    },
    // Plain functions calling send: an async handler costs a promise a request (W1, W2).
    (_request, reply) => {
      reply.send(PUBLIC_PAGE)
    },
  )

  app.get(
    '/private',
    {
      onRequest: app.authenticate,
      schema: {
        tags: [serviceTag.name],
        operationId: 'getPrivate',
        summary: 'Any authenticated user may read this',
        response: { 200: Type.Object({ meaning_of_life: Type.Integer() }) },
      },
    },
    (_request, reply) => {
      reply.send(PRIVATE_PAGE)
    },
  )
}

export interface OpsRoutesOptions {
  /** What readiness waits for, by the name its 503 gives: each resolves when it answers. */
  dependencies: Readonly<Record<string, () => Promise<void>>>
  jwks(): Promise<{ keys: Record<string, unknown>[] }>
}

/** Probes and key publication, outside the versioned API. */
export const opsRoutes: FastifyPluginAsyncTypebox<OpsRoutesOptions> = async (
  app,
  { dependencies, jwks },
) => {
  const Status = Type.Object({ status: Type.String() })
  const checks = Object.entries(dependencies)

  app.get(
    '/healthz',
    {
      config: { rateLimit: false },
      schema: {
        tags: [serviceTag.name],
        operationId: 'getHealth',
        summary: 'The process runs',
        response: { 200: Status },
      },
    },
    async () => ({ status: 'ok' }),
  )

  app.get(
    '/readyz',
    {
      config: { rateLimit: false },
      schema: {
        tags: [serviceTag.name],
        operationId: 'getReadiness',
        summary: 'The database (and Redis, when configured) answers (503 otherwise)',
        response: { 200: Status },
        problems: { 503: 'The database (or Redis) does not answer; `detail` says which' },
      },
    },
    async (_request, reply) => {
      const failed = await Promise.all(
        checks.map(([name, ping]) =>
          ping().then(
            () => undefined,
            () => name,
          ),
        ),
      )
      const down = failed.filter((name) => name !== undefined)
      if (down.length === 0) return { status: 'ready' }
      return sendProblem(
        reply,
        new AppError(
          'SERVICE_UNAVAILABLE',
          `${down.join(' and ')} ${down.length === 1 ? 'does' : 'do'} not answer`,
        ),
      )
    },
  )

  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: [serviceTag.name],
        operationId: 'getJwks',
        summary: 'Public keys for access tokens (empty under HS256)',
        response: {
          200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }),
        },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300')
      return jwks()
    },
  )
}
