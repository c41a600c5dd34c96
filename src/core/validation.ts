import { FormatRegistry, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import type { FastifySchemaCompiler } from 'fastify'
import validator from 'validator'

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/

function isCalendarDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate()
  return day <= days
}

/** RFC 3339 full-date. */
export function isRfc3339Date(value: string): boolean {
  const match = DATE.exec(value)
  return match !== null && isCalendarDate(Number(match[1]), Number(match[2]), Number(match[3]))
}

/** RFC 3339 date-time, with a time zone (no leap seconds beyond :60). */
export function isRfc3339DateTime(value: string): boolean {
  const match = DATE_TIME.exec(value)
  if (match === null) return false
  const [, year, month, day, hour, minute, second, , , offsetHour, offsetMinute] = match
  return (
    isCalendarDate(Number(year), Number(month), Number(day)) &&
    Number(hour) <= 23 &&
    Number(minute) <= 59 &&
    Number(second) <= 60 &&
    (offsetHour === undefined || (Number(offsetHour) <= 23 && Number(offsetMinute) <= 59))
  )
}

/**
 * A mailbox we will send to: validator's isEmail (a maintained parser, not a regex of ours),
 * Unicode allowed, no display name, and no control character that could break a header.
 */
export function isEmailAddress(value: string): boolean {
  return (
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting them is the point
    !/[\u0000-\u001f\u007f]/.test(value) &&
    validator.isEmail(value, {
      allow_display_name: false,
      allow_utf8_local_part: true,
      require_tld: true,
      allow_ip_domain: false,
    })
  )
}

FormatRegistry.Set('date', isRfc3339Date)
FormatRegistry.Set('date-time', isRfc3339DateTime)
FormatRegistry.Set('email', isEmailAddress)

/**
 * TypeBox's compiled checks. Bodies are checked as sent, never coerced ("true" is not true)
 * and never stripped (an unknown field is a 400); query strings and params are converted
 * from text first, as they can only be text.
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema)
  const convert = httpPart !== 'body'
  return (input: unknown) => {
    const value = convert ? Value.Convert(schema, Value.Default(schema, Value.Clone(input))) : input
    if (check.Check(value)) return { value }
    const errors = []
    for (const error of check.Errors(value)) {
      errors.push({
        instancePath: error.path,
        message: error.message,
        keyword: '',
        schemaPath: '',
        params: {},
      })
      if (errors.length >= 20) break
    }
    return { error: errors }
  }
}
