import type { Selectable } from 'kysely'

export type OutboxStatus = 'pending' | 'sent' | 'failed'

/**
 * `transactional` mails are rendered when queued; every other kind is rendered at send time
 * by the renderer its feature hands to delivery (see MailHooks).
 */
export type OutboxKind = 'transactional' | 'campaign'

export interface OutboxTable {
  id: string
  kind: OutboxKind
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

export type OutboxRow = Selectable<OutboxTable>
