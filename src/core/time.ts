/** Now as stored and served: RFC 3339 UTC with milliseconds, fixed width so text sorts as time. */
export function nowIso(): string {
  return new Date().toISOString()
}

export function isoAfterSeconds(seconds: number, from: number = Date.now()): string {
  return new Date(from + seconds * 1000).toISOString()
}

// What is stored and served is `toISOString()` text, which has a four-digit year only in
// 0000–9999 (beyond, "+010000-…" sorts wrongly as text and fails the date-time format on the
// way out). Instants outside are refused where a date comes in.
const EARLIEST = -62_167_219_200_000 // 0000-01-01T00:00:00.000Z
const LATEST = 253_402_300_799_999 // 9999-12-31T23:59:59.999Z

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/

/** Milliseconds since the epoch of a proleptic Gregorian day, or undefined for no such day. */
function dayStart(year: number, month: number, day: number): number | undefined {
  const date = new Date(0)
  // setUTCFullYear, not Date.UTC: the latter reads years 0–99 as 1900–1999.
  date.setUTCFullYear(year, month - 1, day)
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day ? date.getTime() : undefined
}

/** The instant of an RFC 3339 full-date: 00:00 UTC of that day. Undefined when not one. */
export function instantOfDate(text: string): number | undefined {
  const match = DATE.exec(text)
  if (match === null) return undefined
  return dayStart(Number(match[1]), Number(match[2]), Number(match[3]))
}

/**
 * The instant of an RFC 3339 date-time (`T`/`Z` in either case, offsets up to ±23:59), as
 * milliseconds since the epoch; undefined when the text is not one or the instant falls
 * outside years 0000–9999 in UTC. Digits beyond milliseconds are cut, so an expiry never moves
 * later. Second 60 is a leap second, valid only in the last minute of a UTC day, and is read as
 * the next second, as PostgreSQL reads it: JavaScript time, like POSIX time, has no leap seconds.
 */
export function instantOfDateTime(text: string): number | undefined {
  const match = DATE_TIME.exec(text)
  if (match === null) return undefined
  const [, year, month, day, hour, minute, second, fraction, sign, offsetHour, offsetMinute] = match
  const start = dayStart(Number(year), Number(month), Number(day))
  if (start === undefined || Number(hour) > 23 || Number(minute) > 59 || Number(second) > 60)
    return undefined
  if (Number(offsetHour ?? 0) > 23 || Number(offsetMinute ?? 0) > 59) return undefined
  const offsetMinutes =
    (Number(offsetHour ?? 0) * 60 + Number(offsetMinute ?? 0)) * (sign === '-' ? -1 : 1)
  const utcMinutes = Number(hour) * 60 + Number(minute) - offsetMinutes
  if (Number(second) === 60 && ((utcMinutes % 1440) + 1440) % 1440 !== 1439) return undefined
  const millis = Number((fraction ?? '').padEnd(3, '0').slice(0, 3))
  const instant = start + utcMinutes * 60_000 + Number(second) * 1000 + millis
  return instant < EARLIEST || instant > LATEST ? undefined : instant
}

/** An instant as stored and served (see `nowIso`). */
export function isoOf(instant: number): string {
  return new Date(instant).toISOString()
}
