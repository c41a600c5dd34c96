import { FormatRegistry, type TSchema, TypeGuard } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import {
  DefaultErrorFunction,
  SetErrorFunction,
  type ValueError,
  ValueErrorType,
} from '@sinclair/typebox/errors'
import { Value } from '@sinclair/typebox/value'
import type { FastifySchemaCompiler } from 'fastify'
// Only the e-mail check: the whole validator package costs ~25 ms at start-up.
import isEmailModule from 'validator/lib/isEmail.js'
import { instantOfDate, instantOfDateTime } from './time.js'

/** RFC 3339 full-date. */
export function isRfc3339Date(value: string): boolean {
  return instantOfDate(value) !== undefined
}

/** RFC 3339 date-time with a time zone, whose instant Gatehouse can store (see core/time.ts). */
export function isRfc3339DateTime(value: string): boolean {
  return instantOfDateTime(value) !== undefined
}

/**
 * A mailbox we will send to: validator's isEmail (a maintained parser, not a regex of ours),
 * Unicode allowed, no display name, and no control character that could break a header.
 */
export function isEmailAddress(value: string): boolean {
  return (
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting them is the point
    !/[\u0000-\u001f\u007f]/.test(value) &&
    isEmailModule.default(value, {
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

const INTEGER_TEXT = /^-?\d{1,15}$/
const NUMBER_TEXT = /^-?\d{1,15}(\.\d{1,15})?$/

/**
 * Query strings and params can only be text: turns the canonical text of a number or boolean
 * into that value and leaves anything else as it is, so the check refuses it. TypeBox's own
 * `Value.Convert` is laxer ("1.5", "0x10", "1e1" and "true" all become integers).
 */
function fromText(schema: TSchema, value: unknown): unknown {
  if (Array.isArray(value)) {
    return schema.type === 'array' ? value.map((item) => fromText(schema.items, item)) : value
  }
  if (typeof value === 'object' && value !== null) {
    if (schema.type !== 'object' || schema.properties === undefined) return value
    const properties = schema.properties as Record<string, TSchema>
    const converted: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      const property = properties[key]
      converted[key] = property === undefined ? item : fromText(property, item)
    }
    return converted
  }
  if (typeof value !== 'string') return value
  if (Array.isArray(schema.anyOf)) {
    for (const member of schema.anyOf as TSchema[]) {
      const converted = fromText(member, value)
      if (Value.Check(member, converted)) return converted
    }
    return value
  }
  switch (schema.type) {
    case 'integer':
      return INTEGER_TEXT.test(value) ? Number(value) : value
    case 'number':
      return NUMBER_TEXT.test(value) ? Number(value) : value
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : value
    default:
      return value
  }
}

/** Whether `fromText` can change a text value under `schema` (else it is kept as sent). */
function convertsText(schema: TSchema): boolean {
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as TSchema[]).some(convertsText)
  return schema.type === 'integer' || schema.type === 'number' || schema.type === 'boolean'
}

type Conversion = (input: unknown) => unknown

/**
 * `fromText(schema, Value.Default(schema, Value.Clone(input)))`, done in one pass for the usual
 * query string or params schema: an object of scalar fields. Walking the schema generically on
 * every request cost a few µs; here the walk is done once. Other schemas take the generic path.
 */
function compileConversion(schema: TSchema): Conversion {
  const generic: Conversion = (input) => fromText(schema, Value.Default(schema, Value.Clone(input)))
  if (schema.type !== 'object' || schema.properties === undefined) return generic
  const properties = Object.entries(schema.properties as Record<string, TSchema>)
  // Defaults are honoured only on the properties themselves; anything else goes generic.
  const isScalar = (property: TSchema): boolean =>
    Array.isArray(property.anyOf)
      ? (property.anyOf as TSchema[]).every(
          (member) => member.default === undefined && isScalar(member),
        )
      : property.type !== 'object' && property.type !== 'array' && property.type !== undefined
  if (typeof schema.additionalProperties === 'object') return generic
  if (!properties.every(([, property]) => isScalar(property))) return generic
  const converted = new Map(properties.filter(([, property]) => convertsText(property)))
  const defaults = properties.filter(([, property]) => property.default !== undefined)
  return (input) => {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) return generic(input)
    const output: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(input)) {
      const property = converted.get(key)
      output[key] = property === undefined ? value : fromText(property, value)
    }
    // Scalar defaults: nothing to clone.
    for (const [key, property] of defaults) {
      if (output[key] === undefined) output[key] = property.default
    }
    return output
  }
}

/** The values of a union of literals (`'asc' | 'desc'`), or undefined for any other schema. */
function literalChoices(schema: TSchema): unknown[] | undefined {
  if (!Array.isArray(schema.anyOf)) return undefined
  const members = schema.anyOf as TSchema[]
  return members.every((member) => 'const' in member) ? members.map((m) => m.const) : undefined
}

// A schema may carry `errorMessage` to say what form it expects; TypeBox's own wording for a
// union ("Expected union value") names neither the field's rules nor an example. A union of
// literals says which values it takes.
SetErrorFunction((error) => {
  if (typeof error.schema.errorMessage === 'string') return error.schema.errorMessage
  const choices = literalChoices(error.schema)
  if (choices !== undefined) {
    return `must be one of ${choices.map((choice) => JSON.stringify(choice)).join(', ')}`
  }
  return DefaultErrorFunction(error)
})

const NUL_MESSAGE = 'must not contain the NUL character (U+0000)'

function codePointLength(value: string): number {
  let length = 0
  for (const _ of value) length += 1
  return length
}

/**
 * JSON Schema counts a string's length in characters (code points); TypeBox's check counts
 * UTF-16 units, so 101 emoji would fail `maxLength: 200`. An error that only this difference
 * causes is dropped, also inside a union (`description: string | null`). Runs only once the
 * compiled check has failed, so valid requests never pay for it.
 */
function onlyCountsUnits(error: ValueError): boolean {
  if (error.type === ValueErrorType.StringMaxLength && typeof error.value === 'string')
    return codePointLength(error.value) <= Number(error.schema.maxLength)
  if (error.type === ValueErrorType.Union)
    return error.errors.some((variant) => [...variant].every(onlyCountsUnits))
  return false
}

/**
 * Where a string in `value` holds U+0000, as a JSON pointer. PostgreSQL cannot store it in
 * text (the insert would fail with a 500), so it is refused up front on every database alike.
 * A loop with its own stack, not recursion: however deep the value, the call stack is not.
 */
function nulPath(root: unknown): string | undefined {
  const pending: [unknown, string][] = [[root, '']]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path] = next
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return path
    } else if (typeof value === 'object' && value !== null) {
      // Pushed in reverse, so the first offending field in document order is the one named.
      const entries = Object.entries(value)
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, item] = entries[i] as [string, unknown]
        pending.push([item, `${path}/${key}`])
      }
    }
  }
  return undefined
}

/**
 * TypeBox's compiled checks. Bodies are checked as sent, never coerced ("true" is not true)
 * and never stripped (an unknown field is a 400); query strings and params are converted
 * from their canonical text first, as they can only be text.
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema)
  // `Type.Optional(…)` as a whole body: a request without one is fine (TypeBox's check knows
  // optional only as a property of an object).
  const bodyMayBeAbsent = httpPart === 'body' && TypeGuard.IsOptional(schema)
  const convert = httpPart === 'body' ? undefined : compileConversion(schema)
  const accept = (value: unknown) => {
    const nul = nulPath(value)
    if (nul === undefined) return { value }
    return {
      error: [{ instancePath: nul, message: NUL_MESSAGE, keyword: '', schemaPath: '', params: {} }],
    }
  }
  return (input: unknown) => {
    if (bodyMayBeAbsent && (input === undefined || input === null)) return { value: input }
    const value = convert === undefined ? input : convert(input)
    if (check.Check(value)) return accept(value)
    const errors = []
    for (const error of check.Errors(value)) {
      if (onlyCountsUnits(error)) continue
      errors.push({
        instancePath: error.path,
        message: error.message,
        keyword: '',
        schemaPath: '',
        params: {},
      })
      if (errors.length >= 20) break
    }
    return errors.length === 0 ? accept(value) : { error: errors }
  }
}
