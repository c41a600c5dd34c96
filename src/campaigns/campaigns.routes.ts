import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { notModified, withEtag } from '../core/conditional.js'
import type { IdempotencyHooks } from '../core/idempotency.js'
import { setNextLink } from '../core/pagination.js'
import { problems, userSecurity } from '../core/schemas.js'
import {
  Campaign,
  CampaignCreate,
  CampaignListQuery,
  CampaignPage,
  CampaignParams,
} from './campaigns.schemas.js'
import type { CampaignsService } from './campaigns.service.js'

/** Admin-only: write a campaign, send it to every confirmed subscriber, watch the counts. */
export const campaignsRoutes: FastifyPluginAsyncTypebox<{
  campaigns: CampaignsService
  idempotency: IdempotencyHooks
}> = async (app, { campaigns, idempotency }) => {
  app.addHook('onRequest', app.authenticate)
  app.addHook('preHandler', app.requireAdmin)
  const tags = ['campaigns']
  const security = userSecurity

  app.post(
    '/',
    {
      preHandler: idempotency.preHandler,
      onSend: idempotency.onSend,
      schema: {
        tags,
        security,
        summary: 'Create a draft campaign',
        body: CampaignCreate,
        response: { 201: Campaign, 400: problems[400], 401: problems[401], 403: problems[403] },
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
        security,
        summary: 'List campaigns with their counts',
        querystring: CampaignListQuery,
        response: { 200: CampaignPage, 400: problems[400], 401: problems[401], 403: problems[403] },
      },
    },
    async (request, reply) => {
      const page = await campaigns.list(request.query)
      setNextLink(request, reply, page.next_cursor)
      return page
    },
  )

  app.get(
    '/:id',
    {
      schema: {
        tags,
        security,
        summary: 'One campaign; `sent` and `failed` are exact counts of its mails',
        params: CampaignParams,
        response: { 200: Campaign, 401: problems[401], 403: problems[403], 404: problems[404] },
      },
    },
    async (request, reply) => {
      const campaign = await campaigns.get(request.params.id)
      if (notModified(request, reply, campaign)) return reply
      return campaign
    },
  )

  app.post(
    '/:id/send',
    {
      schema: {
        tags,
        security,
        summary:
          'Send to every confirmed subscriber in the background (each gets it once, even if called again; resumes after a crash)',
        params: CampaignParams,
        response: { 202: Campaign, 401: problems[401], 403: problems[403], 404: problems[404] },
      },
    },
    async (request, reply) => {
      const campaign = await campaigns.send(request.params.id)
      return reply.code(202).send(campaign)
    },
  )
}
