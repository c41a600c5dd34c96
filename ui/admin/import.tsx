import { useRef, useState } from 'preact/hooks'
import { api, call, formProblem } from '../lib/api.js'
import { Alert, Field } from '../lib/components.js'
import { csvChunks } from './csv-chunks.js'

interface LineError {
  line: number
  message: string
}

interface Outcome {
  created: number
  skipped: number
  errors: LineError[]
  errorCount: number
  /** Set when the import stopped before the end of the file: why, and what to do. */
  stopped?: string
  /** The stop was a failed request, not the Stop button. */
  failed?: boolean
}

interface Progress {
  done: number
  total: number
  lines: number
}

/** Bad lines listed at most; the count says how many there were in all. */
const LISTED = 100

const count = new Intl.NumberFormat()

/**
 * CSV import with progress: the file goes up in pieces of whole records (csv-chunks.ts), one
 * request each through the typed client, so the bar follows what the server has imported, not
 * only what was uploaded; the bad lines the server reports come back with the file's numbers.
 */
export function ImportForm(props: { onImported: () => void }) {
  const [file, setFile] = useState<File | undefined>(undefined)
  const [fileError, setFileError] = useState<string | undefined>(undefined)
  const [progress, setProgress] = useState<Progress | undefined>(undefined)
  const [outcome, setOutcome] = useState<Outcome | undefined>(undefined)
  const busy = progress !== undefined
  // Set by "Stop import": the piece under way finishes, no further piece is sent.
  const stopping = useRef(false)

  const run = async () => {
    if (file === undefined) {
      setFileError('Choose a CSV file first')
      return
    }
    setFileError(undefined)
    setOutcome(undefined)
    stopping.current = false
    const text = await file.text()
    const result: Outcome = { created: 0, skipped: 0, errors: [], errorCount: 0 }
    let lines = 0
    setProgress({ done: 0, total: text.length, lines: 0 })
    try {
      for (const chunk of csvChunks(text)) {
        if (stopping.current) {
          result.stopped = `You stopped it after line ${count.format(lines + 1)}; importing the file again skips the addresses already added.`
          break
        }
        let answer: Awaited<ReturnType<typeof importChunk>>
        try {
          answer = await importChunk(chunk.body)
        } catch (error) {
          const { message } = formProblem(error)
          if (lines === 0) {
            // Nothing imported yet: the file as a whole was refused (its header, its size).
            setFileError(message)
            return
          }
          result.failed = true
          result.stopped = `${message} The import stopped after line ${count.format(lines + 1)}; importing the file again skips the addresses already added.`
          break
        }
        result.created += answer.created
        result.skipped += answer.skipped
        result.errorCount += answer.error_count
        for (const error of answer.errors) {
          if (result.errors.length < LISTED) {
            result.errors.push({ line: error.line + chunk.lineOffset, message: error.message })
          }
        }
        lines += chunk.lines
        setProgress({ done: chunk.through, total: text.length, lines })
      }
      setOutcome(result)
      props.onImported()
    } finally {
      setProgress(undefined)
    }
  }

  return (
    <form
      class="import"
      aria-labelledby="import-heading"
      onSubmit={(event) => {
        event.preventDefault()
        void run()
      }}
    >
      <h3 id="import-heading">Import from CSV</h3>
      <Field
        label="CSV file"
        name="file"
        hint="A header line name,email, then one subscriber a line. Addresses already on the list are skipped; imported subscribers are confirmed."
        error={fileError}
        control={(control) => (
          <input
            {...control}
            type="file"
            accept=".csv,text/csv"
            disabled={busy}
            onChange={(event) => {
              setFile(event.currentTarget.files?.[0])
              setFileError(undefined)
            }}
          />
        )}
      />
      <div class="actions">
        <button type="submit" disabled={busy}>
          {busy ? 'Importing…' : 'Import'}
        </button>
        {busy && (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              stopping.current = true
            }}
          >
            Stop import
          </button>
        )}
      </div>
      {progress !== undefined && (
        <div class="import-progress">
          <label for="import-progress">Import progress</label>
          <progress id="import-progress" max={progress.total} value={progress.done} />
          <p role="status">
            {count.format(progress.lines)} lines read so far (
            {Math.floor((progress.done / Math.max(progress.total, 1)) * 100)} %)
          </p>
        </div>
      )}
      {outcome !== undefined && <ImportOutcome outcome={outcome} />}
    </form>
  )
}

async function importChunk(csv: string) {
  return call(
    api.POST('/api/v1/subscribers/import', {
      body: csv,
      headers: { 'content-type': 'text/csv' },
      // Sent as it is: the default serializer would JSON-encode the string.
      bodySerializer: (body: unknown) => body as string,
    }),
  )
}

function ImportOutcome({ outcome }: { outcome: Outcome }) {
  const unlisted = outcome.errorCount - outcome.errors.length
  return (
    <div class="import-outcome">
      <Alert
        kind={
          outcome.errorCount > 0 || outcome.failed === true
            ? 'error'
            : outcome.stopped !== undefined
              ? 'info'
              : 'success'
        }
      >
        {outcome.stopped === undefined ? 'Import finished: ' : 'Import stopped: '}
        {count.format(outcome.created)} added, {count.format(outcome.skipped)} skipped (already on
        the list), {count.format(outcome.errorCount)} {outcome.errorCount === 1 ? 'line' : 'lines'}{' '}
        with errors.
        {outcome.stopped !== undefined && ` ${outcome.stopped}`}
      </Alert>
      {outcome.errors.length > 0 && (
        <div class="table-wrap">
          <table class="data import-errors">
            <caption>Lines that were not imported</caption>
            <thead>
              <tr>
                <th scope="col">Line</th>
                <th scope="col">Problem</th>
              </tr>
            </thead>
            <tbody>
              {outcome.errors.map((error) => (
                <tr key={`${error.line}-${error.message}`}>
                  <th scope="row" data-label="Line">
                    {error.line}
                  </th>
                  <td data-label="Problem">{error.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {unlisted > 0 && (
            <p class="hint">
              …and {count.format(unlisted)} more. Fix these lines and import the file again: the
              addresses already added are skipped.
            </p>
          )}
        </div>
      )}
    </div>
  )
}
