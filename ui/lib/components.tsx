import type { ComponentChildren, JSX } from 'preact'
import { useCallback, useEffect, useId, useRef, useState } from 'preact/hooks'

/** What a form control needs to be tied to its label, hint and error. */
export interface ControlProps {
  id: string
  name: string
  'aria-describedby'?: string
  'aria-invalid'?: true
}

interface FieldProps {
  label: string
  name: string
  /** The server's (or the form's) message for this field, shown beside it. */
  error?: string | undefined
  hint?: string | undefined
  /** Renders the input, select or textarea with the ids that tie it to its label and texts. */
  control: (props: ControlProps) => JSX.Element
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1)

/** A labelled form field; its hint and error are read out with it (aria-describedby). */
export function Field({ label, name, error, hint, control }: FieldProps) {
  const id = useId()
  const hintId = `${id}-hint`
  const errorId = `${id}-error`
  const described = [hint === undefined ? '' : hintId, error === undefined ? '' : errorId]
    .filter(Boolean)
    .join(' ')
  return (
    <div class={error === undefined ? 'field' : 'field invalid'}>
      <label for={id}>{label}</label>
      {control({
        id,
        name,
        ...(described === '' ? {} : { 'aria-describedby': described }),
        ...(error === undefined ? {} : { 'aria-invalid': true as const }),
      })}
      {hint !== undefined && (
        <p class="hint" id={hintId}>
          {hint}
        </p>
      )}
      {error !== undefined && (
        <p class="field-error" id={errorId}>
          {capitalised(error)}
        </p>
      )}
    </div>
  )
}

/** A checkbox with its label after it; errors as for Field. */
export function CheckboxField(props: {
  label: ComponentChildren
  name: string
  checked: boolean
  onChange: (checked: boolean) => void
  error?: string | undefined
}) {
  const id = useId()
  return (
    <div class={props.error === undefined ? 'field check' : 'field check invalid'}>
      <input
        type="checkbox"
        id={id}
        name={props.name}
        checked={props.checked}
        onChange={(event) => props.onChange(event.currentTarget.checked)}
        {...(props.error === undefined
          ? {}
          : { 'aria-invalid': true, 'aria-describedby': `${id}-error` })}
      />
      <label for={id}>{props.label}</label>
      {props.error !== undefined && (
        <p class="field-error" id={`${id}-error`}>
          {capitalised(props.error)}
        </p>
      )}
    </div>
  )
}

/** A message about the page or a form: errors interrupt (role=alert), the rest wait (status). */
export function Alert(props: { kind: 'error' | 'success' | 'info'; children: ComponentChildren }) {
  return (
    <div class={`alert ${props.kind}`} role={props.kind === 'error' ? 'alert' : 'status'}>
      {props.children}
    </div>
  )
}

export function Loading(props: { label?: string }) {
  return (
    <p class="loading" role="status">
      {props.label ?? 'Loading…'}
    </p>
  )
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>
}

interface ConfirmRequest {
  title: string
  message: string
  action: string
  resolve: (confirmed: boolean) => void
}

/**
 * A confirmation before anything is deleted: a modal <dialog> (focus moves into it and stays
 * there, Escape cancels, Cancel has the focus first so Enter never deletes by accident).
 * `confirm(...)` resolves true only when the action button was pressed.
 */
export function useConfirm(): [
  JSX.Element,
  (title: string, message: string, action?: string) => Promise<boolean>,
] {
  const dialog = useRef<HTMLDialogElement>(null)
  const [request, setRequest] = useState<ConfirmRequest | undefined>(undefined)

  useEffect(() => {
    const element = dialog.current
    if (request !== undefined && element !== null && !element.open) element.showModal()
  }, [request])

  const confirm = useCallback(
    (title: string, message: string, action = 'Delete') =>
      new Promise<boolean>((resolve) => setRequest({ title, message, action, resolve })),
    [],
  )
  const onClose = () => {
    request?.resolve(dialog.current?.returnValue === 'confirm')
    setRequest(undefined)
  }
  const element = (
    <dialog ref={dialog} class="confirm" aria-labelledby="confirm-title" onClose={onClose}>
      {request !== undefined && (
        <form method="dialog">
          <h2 id="confirm-title">{request.title}</h2>
          <p>{request.message}</p>
          <div class="actions">
            <button type="submit" value="cancel" class="secondary" autofocus>
              Cancel
            </button>
            <button type="submit" value="confirm" class="danger">
              {request.action}
            </button>
          </div>
        </form>
      )}
    </dialog>
  )
  return [element, confirm]
}

/** A short-lived status line for the outcome of an action ("Saved."), read out politely. */
export function useNotice(): [JSX.Element, (text: string, kind?: 'success' | 'error') => void] {
  const [notice, setNotice] = useState<{ text: string; kind: 'success' | 'error' } | undefined>()
  useEffect(() => {
    if (notice === undefined || notice.kind === 'error') return
    const timer = setTimeout(() => setNotice(undefined), 6000)
    return () => clearTimeout(timer)
  }, [notice])
  const show = useCallback(
    (text: string, kind: 'success' | 'error' = 'success') => setNotice({ text, kind }),
    [],
  )
  const element = (
    <div class="notice-area" aria-live="polite">
      {notice !== undefined && <Alert kind={notice.kind}>{notice.text}</Alert>}
    </div>
  )
  return [element, show]
}
