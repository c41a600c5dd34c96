import type { Insertable, Selectable, Updateable } from 'kysely'

export type SubscriberStatus = 'pending' | 'confirmed' | 'unsubscribed'

export interface SubscribersTable {
  id: string
  name: string
  email: string
  /** Lower-cased, NFC: emails compare case-insensitively and are unique by this column. */
  email_normalised: string
  status: SubscriberStatus
  /** Hash of the subscriber's long-lived unsubscribe token (the token is derived, never stored). */
  unsubscribe_token_hash: string
  created_at: string
  updated_at: string
  confirmed_at: string | null
  unsubscribed_at: string | null
  /** Last confirmation or notice mail caused by a public signup (throttle). */
  last_mailed_at: string | null
}

export interface SubscriberTokensTable {
  token_hash: string
  subscriber_id: string
  purpose: 'confirm'
  created_at: string
  expires_at: string
  used_at: string | null
}

export type SubscriberRow = Selectable<SubscribersTable>
export type NewSubscriberRow = Insertable<SubscribersTable>
export type SubscriberRowUpdate = Updateable<SubscribersTable>
