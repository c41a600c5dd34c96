import type { Insertable, Selectable } from 'kysely'

/** 'queuing': its mails are being written to the outbox (shown as 'sending' in the API). */
export type CampaignStatus = 'draft' | 'queuing' | 'sending' | 'sent'

export interface CampaignsTable {
  id: string
  subject: string
  text: string
  status: CampaignStatus
  created_at: string
  sent_at: string | null
  /** The last subscriber id queued while 'queuing'; '' before the first chunk. */
  queued_through: string
}

export type OutboxStatus = 'pending' | 'sent' | 'failed'

export interface OutboxTable {
  id: string
  kind: 'transactional' | 'campaign'
  campaign_id: string | null
  subscriber_id: string | null
  recipient_name: string
  recipient_email: string
  /** Fixed at enqueue, so a mail re-sent after a crash keeps its Message-ID. */
  message_id: string
  /** Transactional: JSON `{subject, text}`, emptied once sent. Campaign: '' (rendered at send). */
  payload: string
  status: OutboxStatus
  attempts: number
  next_attempt_at: string
  /** A worker owns the row until then; an expired lease after a crash makes it due again. */
  lease_until: string | null
  last_error: string | null
  created_at: string
  sent_at: string | null
}

export type CampaignRow = Selectable<CampaignsTable>
export type NewCampaignRow = Insertable<CampaignsTable>
export type OutboxRow = Selectable<OutboxTable>
export type NewOutboxRow = Insertable<OutboxTable>
