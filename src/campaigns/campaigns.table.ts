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

export type CampaignRow = Selectable<CampaignsTable>
export type NewCampaignRow = Insertable<CampaignsTable>
