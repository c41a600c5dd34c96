import type { Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { clientKey } from '../core/caller-key.js'
import { orNotModified, preconditionsOf, withEtag } from '../core/conditional.js'
import { AppError } from '../core/errors.js'
import type { IdempotencyHooks } from '../core/idempotency.js'
import { withNextLink } from '../core/pagination.js'
import { NoContent, NotModified } from '../core/schemas.js'
import {
  csvRecords,
  exportCsv,
  IMPORT_BODY_LIMIT,
  jsonRecords,
  limitImportBody,
} from './subscribers.import.js'
import {
  ImportBody,
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

/** This file's group of operations in the OpenAPI document. */
export const subscribersTag = {
  name: 'subscribers',
  description:
    'The mailing list: double opt-in signup for anyone, confirm and unsubscribe links, and for admins CRUD, CSV/JSON import and CSV export',
}

export interface SubscribersRoutesOptions {
  subscribers: SubscribersService
  idempotency: IdempotencyHooks
}

const INVALID_TOKEN = 'The token is invalid, has expired or was already used'

const isAdmin = (request: FastifyRequest) => request.caller?.principal.role === 'admin'

export const subscribersRoutes: FastifyPluginAsyncTypebox<SubscribersRoutesOptions> = async (
  app,
  { subscribers, idempotency },
) => {
  const tags = [subscribersTag.name]
  const admin = { onRequest: app.authenticate, preHandler: app.requireAdmin }

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
        operationId: 'createSubscriber',
        summary:
          'Subscribe (anyone: 202 and a confirmation mail, the same answer for any address) or add a subscriber (admin: 201, `confirmed` by default, no mail)',
        body: SubscriberCreate,
        response: { 201: Subscriber, 202: SignupAccepted },
        problems: {
          400: 'Anyone but an admin sent `status`',
          409: 'An admin added an address already on the list',
          429: 'More than 20 public signups an hour from this client',
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
        operationId: 'listSubscribers',
        summary: 'List subscribers (`status`; `q` matches name or email)',
        querystring: SubscriberListQuery,
        response: { 200: SubscriberPage },
      },
    },
    async (request, reply) => withNextLink(request, reply, await subscribers.list(request.query)),
  )

  app.post(
    '/confirm',
    {
      schema: {
        tags,
        operationId: 'confirmSubscription',
        summary: 'Confirm a subscription with the token from the mail (single use, 48 hours)',
        body: TokenBody,
        response: { 200: Subscriber },
        problems: { 400: INVALID_TOKEN },
      },
    },
    async (request) => subscribers.confirm(request.body.token),
  )

  app.post(
    '/unsubscribe',
    {
      schema: {
        tags,
        operationId: 'unsubscribe',
        summary: 'Unsubscribe with the token from any list mail',
        body: TokenBody,
        response: { 200: Subscriber },
        problems: { 400: INVALID_TOKEN },
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
          operationId: 'importSubscribers',
          summary:
            'Import subscribers from CSV (`text/csv`, header `name,email`) or a JSON array of `{name, email}`; known addresses are skipped; at most 16 MiB (or BODY_LIMIT, if larger)',
          consumes: ['text/csv', 'application/json'],
          streamedBody: ImportBody,
          response: { 200: ImportResult },
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
        operationId: 'exportSubscribers',
        summary: 'Every subscriber as CSV, streamed',
        produces: ['text/csv'],
        response: {
          200: Type.String({
            description: 'text/csv: id,name,email,status,created_at,confirmed_at',
          }),
        },
      },
    },
    async (_request, reply) => {
      // Any reply: the route's own type wants the string its schema describes, not a stream.
      const csv: FastifyReply = reply
      csv
        .type('text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="subscribers.csv"')
      return csv.send(exportCsv(subscribers.all()))
    },
  )

  app.get(
    '/:id',
    {
      ...admin,
      schema: {
        tags,
        operationId: 'getSubscriber',
        summary: 'One subscriber',
        params: SubscriberParams,
        response: { 200: Subscriber, 304: NotModified },
      },
    },
    async (request, reply) =>
      orNotModified(request, reply, await subscribers.get(request.params.id)),
  )

  const writeProblems = {
    409: 'Another subscriber has this address',
    412: 'The subscriber has changed since it was read (If-Match)',
  }

  app.put(
    '/:id',
    {
      ...admin,
      schema: {
        tags,
        operationId: 'replaceSubscriber',
        summary: 'Replace name and email',
        params: SubscriberParams,
        body: SubscriberPut,
        response: { 200: Subscriber },
        problems: writeProblems,
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
        operationId: 'updateSubscriber',
        summary: 'Change name, email or status',
        params: SubscriberParams,
        body: SubscriberPatch,
        response: { 200: Subscriber },
        problems: writeProblems,
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
        operationId: 'deleteSubscriber',
        summary: 'Delete a subscriber',
        params: SubscriberParams,
        response: { 204: NoContent },
        problems: { 412: writeProblems[412] },
      },
    },
    async (request, reply) => {
      await subscribers.delete(request.params.id, preconditionsOf(request))
      return reply.code(204).send(null)
    },
  )
}
