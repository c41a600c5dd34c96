import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { callerKey } from './caller-key.js'
import { AppError } from './errors.js'

/**
 * 600 requests a minute for each caller (`callerKey`), in Redis when there is one so that every
 * instance counts together. Routes registered after this get the limit; `app.rateLimit()` makes
 * one for a single hook (the 404 handler, refused credentials).
 */
export async function registerRateLimits(
  app: FastifyInstance,
  config: { rateLimit: boolean },
  redis: Redis | undefined,
): Promise<void> {
  if (!config.rateLimit) return
  await app.register(rateLimit, {
    global: true,
    max: 600,
    timeWindow: '1 minute',
    // After authentication, so a signed-in user is counted as themselves.
    hook: 'preHandler',
    keyGenerator: callerKey,
    errorResponseBuilder: (_request, context) =>
      new AppError('RATE_LIMITED', `Rate limit exceeded; retry in ${context.after}`),
    ...(redis === undefined ? {} : { redis, nameSpace: 'gatehouse-rl:' }),
    // Redis unreachable: requests go through unlimited (readiness reports the outage) rather
    // than all failing with 500.
    skipOnError: true,
  })
}
