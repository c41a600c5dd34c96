export interface IdempotencyKeysTable {
  caller: string
  key: string
  request_hash: string
  /** 0 while the first request is in flight. */
  status_code: number
  headers: string
  /** The response body, sealed (AES-256-GCM): it may hold a secret shown once. */
  body: string
  created_at: string
}
