/** Now as stored and served: RFC 3339 UTC with milliseconds, fixed width so text sorts as time. */
export function nowIso(): string {
  return new Date().toISOString()
}

export function isoAfterSeconds(seconds: number, from: number = Date.now()): string {
  return new Date(from + seconds * 1000).toISOString()
}
