import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { PROBLEMS } from '../src/problems.js'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

// The error reference is for users, but it must stay true as codes are added or changed: every
// code the server can answer has a row in its table and a section, with the code's own status
// and title, and the page names no code the server does not have.
const PAGE = path.resolve(HERE, '../docs/errors.md')
const page = readFileSync(PAGE, 'utf8')

/** `| \`CODE\` | 400 (or another 4xx) | Title |`: the status is the cell's leading number. */
const TABLE_ROW = /^\| `([A-Z][A-Z0-9_]*)` \| (\d{3})[^|]* \| ([^|]+?) \|$/gm
/** `### \`CODE\` · 400` */
const SECTION = /^### `([A-Z][A-Z0-9_]*)` · (\d{3})$/gm

function collect(pattern: RegExp): Map<string, string[][]> {
  const found = new Map<string, string[][]>()
  for (const match of page.matchAll(pattern)) {
    const [, code = '', ...rest] = match
    found.set(code, [...(found.get(code) ?? []), rest])
  }
  return found
}

const rows = collect(TABLE_ROW)
const sections = collect(SECTION)
const codes = Object.keys(PROBLEMS) as (keyof typeof PROBLEMS)[]

describe('docs/errors.md', () => {
  it('has one table row per problem code, with its status and title', () => {
    const wrong = codes.flatMap((code) => {
      const { status, title } = PROBLEMS[code]
      const found = rows.get(code) ?? []
      const expected = [String(status), title]
      if (found.length === 1 && found[0]?.join() === expected.join()) return []
      return [`${code}: want | ${expected.join(' | ')} |, found ${JSON.stringify(found)}`]
    })
    expect(wrong, `rows of the table in ${PAGE}`).toEqual([])
  })

  it('has one section per problem code, headed with its status', () => {
    const wrong = codes.flatMap((code) => {
      const { status } = PROBLEMS[code]
      const found = sections.get(code) ?? []
      if (found.length === 1 && found[0]?.[0] === String(status)) return []
      return [`${code}: want "### \`${code}\` · ${status}", found ${JSON.stringify(found)}`]
    })
    expect(wrong, `section headings in ${PAGE}`).toEqual([])
  })

  it('names no code the server does not have', () => {
    const known = new Set<string>(codes)
    const stale = [...new Set([...rows.keys(), ...sections.keys()])].filter((c) => !known.has(c))
    expect(stale, 'codes on the page that src/problems.ts does not declare').toEqual([])
  })
})
