import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { AppError } from '../core/errors.js'
import { serviceTag } from '../service/service.routes.js'
import type { Metrics } from './metrics.js'

/** `GET /metrics`: admins only; an admin's API key is what a scraper sends. */
export const metricsRoutes: FastifyPluginAsyncTypebox<{ metrics: Metrics }> = async (
  app,
  { metrics },
) => {
  app.get(
    '/metrics',
    {
      onRequest: app.authenticate,
      preHandler: app.requireAdmin,
      schema: {
        tags: [serviceTag.name],
        operationId: 'getMetrics',
        summary: 'Prometheus metrics of every process (admins only; an API key suits a scraper)',
        produces: ['text/plain'],
        response: {
          200: Type.String({
            description: 'text/plain; version=0.0.4: the Prometheus text format',
          }),
        },
        problems: { 503: 'With several processes, the cluster did not answer for the others' },
      },
    },
    async (_request, reply) => {
      let text: string
      try {
        text = await metrics.text()
      } catch (error) {
        throw new AppError('SERVICE_UNAVAILABLE', (error as Error).message)
      }
      // Any reply: the route's own type wants the schema's string, sent as it is.
      const plain: FastifyReply = reply
      return plain.type(metrics.contentType).send(text)
    },
  )
}
