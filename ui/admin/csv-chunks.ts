/** One request's worth of a CSV import: the file's header, then whole records of the file. */
export interface CsvChunk {
  /** The CSV to send: the header line(s), then this chunk's records. */
  readonly body: string
  /** Add to a line number the server reports for this chunk to get the file's line number. */
  readonly lineOffset: number
  /** Lines of the file this chunk covers (header not counted). */
  readonly lines: number
  /** Characters of the file up to the end of this chunk, for the progress bar. */
  readonly through: number
}

/** Characters per request: about 2,000 typical lines, a second or two of server work each, so a large file shows steady progress. */
export const CHUNK_CHARS = 64 * 1024

/** Physical lines in `text` (a last line without a newline counts). */
function lineCount(text: string): number {
  if (text === '') return 0
  let lines = 1
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lines += 1
  return text.endsWith('\n') ? lines - 1 : lines
}

/**
 * Splits a CSV file into requests at record boundaries — a newline outside double quotes, so a
 * quoted field that spans lines stays whole — each repeating the header. Line numbers stay
 * those of the file: the server counts the header as line 1 of every request, and `lineOffset`
 * maps its count back. A file without any newline is sent as it is.
 */
export function* csvChunks(text: string, chunkChars = CHUNK_CHARS): Generator<CsvChunk> {
  const boundaries: number[] = []
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34) quoted = !quoted
    else if (c === 10 && !quoted) boundaries.push(i + 1)
  }
  const headerEnd = boundaries[0]
  if (headerEnd === undefined || headerEnd === text.length) {
    yield { body: text, lineOffset: 0, lines: 0, through: text.length }
    return
  }
  const header = text.slice(0, headerEnd)
  const headerLines = lineCount(header)
  let from = headerEnd
  // The file line the next chunk's first record starts on.
  let fileLine = headerLines + 1
  let at = 1
  while (from < text.length) {
    let to = from
    while (at < boundaries.length && (boundaries[at] ?? 0) - from <= chunkChars) {
      to = boundaries[at] ?? to
      at += 1
    }
    // The end of a file without a last newline rides along with the records before it.
    if (at >= boundaries.length && text.length - from <= chunkChars) to = text.length
    // A record longer than a chunk, or the last record without a newline: up to the next
    // boundary (or the end) anyway.
    if (to === from) {
      to = at < boundaries.length ? (boundaries[at] ?? text.length) : text.length
      if (at < boundaries.length) at += 1
    }
    const records = text.slice(from, to)
    const lines = lineCount(records)
    yield {
      body: header + records,
      lineOffset: fileLine - (headerLines + 1),
      lines,
      through: to,
    }
    fileLine += lines
    from = to
  }
}
