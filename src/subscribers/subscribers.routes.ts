import type { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { clientKey } from '../core/caller-key.js'
import { notModified, preconditionsOf, withEtag } from '../core/conditional.js'
import { AppError } from '../core/errors.js'
import type { IdempotencyHooks } from '../core/idempotency.js'
import { setNextLink } from '../core/pagination.js'
import { NoContent, problems, userSecurity } from '../core/schemas.js'
import {
  csvRecords,
  exportCsv,
  IMPORT_BODY_LIMIT,
  jsonRecords,
  limitImportBody,
} from './subscribers.import.js'
import {
  ImportResult,
  SignupAccepted,
  Subscriber,
  SubscriberCreate,
  SubscriberListQuery,
  SubscriberPage,
  SubscriberParams,
  SubscriberPatch,
  SubscriberPut,
  TokenBody,
} from './subscribers.schemas.js'
import type { SubscribersService } from './subscribers.service.js'

export interface SubscribersRoutesOptions {
  subscribers: SubscribersService
  idempotency: IdempotencyHooks
}

const isAdmin = (request: FastifyRequest) => request.caller?.principal.role === 'admin'

export const subscribersRoutes: FastifyPluginAsyncTypebox<SubscribersRoutesOptions> = async (
  app,
  { subscribers, idempotency },
) => {
  const tags = ['subscribers']
  const admin = { onRequest: app.authenticate, preHandler: app.requireAdmin }
  const security = userSecurity

  app.post(
    '/',
    {
      onRequest: app.identify,
      preHandler: idempotency.preHandler,
      onSend: idempotency.onSend,
      config: {
        // Public signup only; an admin adding subscribers is not throttled here.
        rateLimit: {
          max: 20,
          timeWindow: '1 hour',
          keyGenerator: clientKey('subscribe'),
          allowList: (request: FastifyRequest) => isAdmin(request),
        },
      },
      schema: {
        tags,
        summary:
          'Subscribe (anyone: 202 and a confirmation mail, the same answer for any address) or add a subscriber (admin: 201, `confirmed` by default, no mail)',
        body: SubscriberCreate,
        response: {
          201: Subscriber,
          202: SignupAccepted,
          400: problems[400],
          409: problems[409],
          429: problems[429],
        },
      },
    },
    async (request, reply) => {
      if (isAdmin(request)) {
        const subscriber = await subscribers.create(request.body)
        reply.header('location', `/api/v1/subscribers/${subscriber.id}`)
        return reply.code(201).send(withEtag(reply, subscriber))
      }
      if (request.body.status !== undefined) {
        throw new AppError('VALIDATION_FAILED', 'body/status: must not be set', {
          errors: [{ path: 'body/status', message: 'only an admin may set status' }],
        })
      }
      await subscribers.signup(request.body)
      return reply.code(202).send({ status: 'pending' as const })
    },
  )

  app.get(
    '/',
    {
      ...admin,
      schema: {
        tags,
        security,
        summary: 'List subscribers (`status`; `q` matches name or email)',
        querystring: SubscriberListQuery,
        response: {
          200: SubscriberPage,
          400: problems[400],
          401: problems[401],
          403: problems[403],
        },
      },
    },
    async (request, reply) => {
      const page = await subscribers.list(request.query)
      setNextLink(request, reply, page.next_cursor)
      return page
    },
  )

  app.post(
    '/confirm',
    {
      schema: {
        tags,
        summary: 'Confirm a subscription with the token from the mail (single use, 48 hours)',
        body: TokenBody,
        response: { 200: Subscriber, 400: problems[400] },
      },
    },
    async (request) => subscribers.confirm(request.body.token),
  )

  app.post(
    '/unsubscribe',
    {
      schema: {
        tags,
        summary: 'Unsubscribe with the token from any list mail',
        body: TokenBody,
        response: { 200: Subscriber, 400: problems[400] },
      },
    },
    async (request) => subscribers.unsubscribe(request.body.token),
  )

  // The import body is streamed, never buffered: these parsers hand the stream on, cut off at
  // the route's own body limit (Fastify enforces it only on bodies it reads itself).
  const importLimit = Math.max(app.initialConfig.bodyLimit ?? 0, IMPORT_BODY_LIMIT)
  await app.register(async (importer) => {
    importer.removeContentTypeParser('application/json')
    importer.addContentTypeParser(['application/json', 'text/csv'], (request, payload, done) => {
      const body = limitImportBody(
        payload,
        Number(request.headers['content-length']),
        request.routeOptions.bodyLimit ?? importLimit,
      )
      if (body instanceof AppError) done(body, undefined)
      else done(null, body)
    })
    importer.post(
      '/import',
      {
        ...admin,
        bodyLimit: importLimit,
        schema: {
          tags,
          security,
          summary:
            'Import subscribers from CSV (`text/csv`, header `name,email`) or a JSON array of `{name, email}`; known addresses are skipped; at most 16 MiB (or BODY_LIMIT, if larger)',
          consumes: ['text/csv', 'application/json'],
          response: {
            200: ImportResult,
            400: problems[400],
            401: problems[401],
            403: problems[403],
            413: problems[413],
          },
        },
      },
      async (request) => {
        const body = request.body as Readable
        const csv = (request.headers['content-type'] ?? '').toLowerCase().startsWith('text/csv')
        return subscribers.import(csv ? csvRecords(body) : jsonRecords(body))
      },
    )
  })

  app.get(
    '/export',
    {
      ...admin,
      schema: {
        tags,
        security,
        summary: 'Every subscriber as CSV, streamed',
        produces: ['text/csv'],
        response: {
          200: Type.String({
            description: 'text/csv: id,name,email,status,created_at,confirmed_at',
          }),
          401: problems[401],
          403: problems[403],
        },
      },
    },
    async (_request, reply) => {
      reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="subscribers.csv"')
      return reply.send(exportCsv(subscribers.all()))
    },
  )

  app.get(
    '/:id',
    {
      ...admin,
      schema: {
        tags,
        security,
        summary: 'One subscriber',
        params: SubscriberParams,
        response: { 200: Subscriber, 401: problems[401], 403: problems[403], 404: problems[404] },
      },
    },
    async (request, reply) => {
      const subscriber = await subscribers.get(request.params.id)
      if (notModified(request, reply, subscriber)) return reply
      return subscriber
    },
  )

  const writeResponses = {
    200: Subscriber,
    400: problems[400],
    401: problems[401],
    403: problems[403],
    404: problems[404],
    409: problems[409],
    412: problems[412],
  }

  app.put(
    '/:id',
    {
      ...admin,
      schema: {
        tags,
        security,
        summary: 'Replace name and email',
        params: SubscriberParams,
        body: SubscriberPut,
        response: writeResponses,
      },
    },
    async (request, reply) => {
      const subscriber = await subscribers.update(
        request.params.id,
        request.body,
        preconditionsOf(request),
      )
      return withEtag(reply, subscriber)
    },
  )

  app.patch(
    '/:id',
    {
      ...admin,
      schema: {
        tags,
        security,
        summary: 'Change name, email or status',
        params: SubscriberParams,
        body: SubscriberPatch,
        response: writeResponses,
      },
    },
    async (request, reply) => {
      const subscriber = await subscribers.update(
        request.params.id,
        request.body,
        preconditionsOf(request),
      )
      return withEtag(reply, subscriber)
    },
  )

  app.delete(
    '/:id',
    {
      ...admin,
      schema: {
        tags,
        security,
        summary: 'Delete a subscriber',
        params: SubscriberParams,
        response: {
          204: NoContent,
          401: problems[401],
          403: problems[403],
          404: problems[404],
          412: problems[412],
        },
      },
    },
    async (request, reply) => {
      await subscribers.delete(request.params.id, preconditionsOf(request))
      return reply.code(204).send(null)
    },
  )
}
