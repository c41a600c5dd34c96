import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { orNotModified, withEtag } from '../core/conditional.js'
import type { IdempotencyHooks } from '../core/idempotency.js'
import { withNextLink } from '../core/pagination.js'
import { hookEveryRoute } from '../core/route-docs.js'
import { NotModified } from '../core/schemas.js'
import {
  Campaign,
  CampaignCreate,
  CampaignListQuery,
  CampaignPage,
  CampaignParams,
} from './campaigns.schemas.js'
import type { CampaignsService } from './campaigns.service.js'

/** This file's group of operations in the OpenAPI document. */
export const campaignsTag = {
  name: 'campaigns',
  description:
    'Mails to every confirmed subscriber, for admins: write a draft, send it in the background, watch sent and failed counts',
}

/** Admin-only: write a campaign, send it to every confirmed subscriber, watch the counts. */
export const campaignsRoutes: FastifyPluginAsyncTypebox<{
  campaigns: CampaignsService
  idempotency: IdempotencyHooks
}> = async (app, { campaigns, idempotency }) => {
  const tags = [campaignsTag.name]
  // Admins only, every route: a new one cannot forget it.
  hookEveryRoute(app, { onRequest: app.authenticate, preHandler: app.requireAdmin })

  app.post(
    '/',
    {
      preHandler: idempotency.preHandler,
      onSend: idempotency.onSend,
      schema: {
        tags,
        operationId: 'createCampaign',
        summary: 'Create a draft campaign',
        body: CampaignCreate,
        response: { 201: Campaign },
      },
    },
    async (request, reply) => {
      const campaign = await campaigns.create(request.body)
      reply.header('location', `/api/v1/campaigns/${campaign.id}`)
      return reply.code(201).send(withEtag(reply, campaign))
    },
  )

  app.get(
    '/',
    {
      schema: {
        tags,
        operationId: 'listCampaigns',
        summary: 'List campaigns with their counts',
        querystring: CampaignListQuery,
        response: { 200: CampaignPage },
      },
    },
    async (request, reply) => withNextLink(request, reply, await campaigns.list(request.query)),
  )

  app.get(
    '/:id',
    {
      schema: {
        tags,
        operationId: 'getCampaign',
        summary: 'One campaign; `sent` and `failed` are exact counts of its mails',
        params: CampaignParams,
        response: { 200: Campaign, 304: NotModified },
      },
    },
    async (request, reply) => orNotModified(request, reply, await campaigns.get(request.params.id)),
  )

  app.post(
    '/:id/send',
    {
      schema: {
        tags,
        operationId: 'sendCampaign',
        summary:
          'Send to every confirmed subscriber in the background (each gets it once, even if called again; resumes after a crash)',
        params: CampaignParams,
        response: { 202: Campaign },
      },
    },
    async (request, reply) => {
      const campaign = await campaigns.send(request.params.id)
      return reply.code(202).send(campaign)
    },
  )
}
