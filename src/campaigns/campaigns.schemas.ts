import { type Static, Type } from '@sinclair/typebox'
import { PageQuery } from '../core/pagination.js'
import type { CampaignCounts } from './campaigns.repository.js'
import type { CampaignRow } from './campaigns.table.js'

export const Campaign = Type.Object(
  {
    id: Type.String(),
    subject: Type.String(),
    text: Type.String(),
    status: Type.Union([Type.Literal('draft'), Type.Literal('sending'), Type.Literal('sent')]),
    recipients: Type.Integer({ description: 'Mails queued for this campaign' }),
    sent: Type.Integer({ description: 'Accepted by the mail server' }),
    failed: Type.Integer({ description: 'Refused for good (5xx) or out of retries' }),
    created_at: Type.String({ format: 'date-time' }),
  },
  { title: 'Campaign', description: 'A mail to every confirmed subscriber' },
)
export type Campaign = Static<typeof Campaign>

export const CampaignCreate = Type.Object(
  {
    // The subject is a header: no control characters, so no CR/LF injection.
    subject: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
    text: Type.String({ minLength: 1, maxLength: 100_000 }),
  },
  {
    title: 'CampaignCreate',
    additionalProperties: false,
    examples: [{ subject: 'November news', text: 'Hello,\n\nwhat happened this month…' }],
  },
)
export type CampaignCreate = Static<typeof CampaignCreate>

export const CampaignParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })

export const CampaignListQuery = Type.Object({ ...PageQuery })
export type CampaignListQuery = Static<typeof CampaignListQuery>

export const CampaignPage = Type.Object(
  {
    items: Type.Array(Campaign),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  },
  { title: 'CampaignPage' },
)
export type CampaignPage = Static<typeof CampaignPage>

export function toCampaign(row: CampaignRow, counts: CampaignCounts): Campaign {
  return {
    id: row.id,
    subject: row.subject,
    text: row.text,
    status: row.status === 'queuing' ? 'sending' : row.status,
    recipients: counts.recipients,
    sent: counts.sent,
    failed: counts.failed,
    created_at: row.created_at,
  }
}
