import { useCallback, useState } from 'preact/hooks'
import { type FormProblem, formProblem } from './api.js'

export interface Submission {
  busy: boolean
  problem: FormProblem | undefined
  /** The message for one field, if the last attempt failed on it. */
  fieldError(name: string): string | undefined
  /** Runs `action`; true when it succeeded, otherwise the problem is kept for the form. */
  run(action: () => Promise<unknown>): Promise<boolean>
  clear(): void
}

/** Busy state and the problem of a form's last attempt, shared by every form of the UI. */
export function useSubmission(): Submission {
  const [busy, setBusy] = useState(false)
  const [problem, setProblem] = useState<FormProblem | undefined>(undefined)
  const run = useCallback(async (action: () => Promise<unknown>) => {
    setBusy(true)
    setProblem(undefined)
    try {
      await action()
      return true
    } catch (error) {
      setProblem(formProblem(error))
      return false
    } finally {
      setBusy(false)
    }
  }, [])
  return {
    busy,
    problem,
    fieldError: (name) => problem?.fields[name],
    run,
    clear: () => setProblem(undefined),
  }
}
