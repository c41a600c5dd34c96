const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' })
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

/** A date-only value (`2026-11-22`) as that calendar day; a date-time in the reader's zone. */
export function formatWhen(value: string): string {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const [year, month, day] = value.split('-').map(Number)
    return DATE.format(new Date(year ?? 0, (month ?? 1) - 1, day ?? 1))
  }
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? value : DATE_TIME.format(date)
}

/** The calendar day a due value falls on, for an `<input type="date">`. */
export function dateInputValue(value: string | null): string {
  if (value === null) return ''
  return /^\d{4}-\d{2}-\d{2}/.exec(value)?.[0] ?? ''
}
