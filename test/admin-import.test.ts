// The admin console imports a CSV file in pieces (ui/admin/csv-chunks.ts) so that it can show
// progress. Sent piece by piece to the real import endpoint, a file must give what it gives
// sent whole: the same counts, and every bad line under the file's own line number.
import { describe, expect, it } from 'vitest'
import { csvChunks } from '../ui/admin/csv-chunks.js'
import { buildTestApp, json, loginAdmin } from './helpers.js'

interface ImportResult {
  created: number
  skipped: number
  errors: { line: number; message: string }[]
  error_count: number
}

/** A file with the awkward cases, its addresses made unique by `tag`. */
function awkwardCsv(tag: string, known: string): string {
  const at = (n: number) => `p${n}.${tag}@example.com`
  return [
    'Name,EMAIL',
    `Ann,${at(1)}`,
    'Broken,not-an-email',
    `"Quoted, Name",${at(2)}`,
    '',
    `"Two\nlines",${at(3)}`,
    `Known,${known}`,
    `,${at(4)}`,
    `Bee,${at(5)}`,
    `Again,${at(1)}`,
    `"Escaped ""quote""",${at(6)}`,
    'Also broken,@',
    `Last,${at(7)}`,
  ].join('\r\n')
}

describe('CSV import in the pieces the admin console sends', async () => {
  const { app } = await buildTestApp()
  const admin = await loginAdmin(app)
  const importCsv = async (csv: string) => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/subscribers/import',
      headers: { ...admin.headers, 'content-type': 'text/csv' },
      payload: csv,
    })
    expect(response.statusCode).toBe(200)
    return json<ImportResult>(response)
  }
  const known = 'known@example.com'
  await app.inject({
    method: 'POST',
    url: '/api/v1/subscribers',
    headers: admin.headers,
    payload: { name: 'Known', email: known },
  })

  it('gives the counts and line numbers of the whole file', async () => {
    const whole = await importCsv(awkwardCsv('whole', known))
    // Pieces of at most 40 characters: about one record each, one of them longer than that.
    const total: ImportResult = { created: 0, skipped: 0, errors: [], error_count: 0 }
    const file = awkwardCsv('pieces', known)
    const chunks = [...csvChunks(file, 40)]
    expect(chunks.length).toBeGreaterThan(5)
    let lines = 0
    for (const chunk of chunks) {
      const result = await importCsv(chunk.body)
      total.created += result.created
      total.skipped += result.skipped
      total.error_count += result.error_count
      total.errors.push(
        ...result.errors.map((e) => ({ line: e.line + chunk.lineOffset, message: e.message })),
      )
      lines += chunk.lines
    }
    expect(whole.errors.map((e) => e.line)).toEqual([3, 7, 9, 13])
    expect(total).toEqual(whole)
    expect(lines).toBe(file.split('\n').length - 1)
    expect(chunks.at(-1)?.through).toBe(file.length)
  })

  it('sends a file that is only a header, or has no newline, as it is', async () => {
    expect([...csvChunks('name,email\n')].map((c) => c.body)).toEqual(['name,email\n'])
    expect([...csvChunks('name,email')].map((c) => c.body)).toEqual(['name,email'])
    const chunks = [...csvChunks('name,email\nA,a.whole-file@example.com')]
    expect(chunks).toHaveLength(1)
    expect(await importCsv(chunks[0]?.body ?? '')).toMatchObject({ created: 1 })
  })
})
