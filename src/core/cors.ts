import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'

/** Browsers on the configured origins may call the API with credentials; none by default. */
export async function registerCors(
  app: FastifyInstance,
  config: { corsOrigins: readonly string[] },
): Promise<void> {
  if (config.corsOrigins.length === 0) return
  await app.register(cors, {
    origin: [...config.corsOrigins],
    credentials: true,
    exposedHeaders: ['Location', 'ETag', 'Link', 'Retry-After'],
    allowedHeaders: [
      'Authorization',
      'Content-Type',
      'If-Match',
      'If-None-Match',
      'Idempotency-Key',
      'X-CSRF-Token',
    ],
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    maxAge: 600,
  })
}
