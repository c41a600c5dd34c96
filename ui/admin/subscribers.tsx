import { useState } from 'preact/hooks'
import {
  api,
  call,
  formProblem,
  idempotencyKey,
  ProblemError,
  type Subscriber,
} from '../lib/api.js'
import { Alert, Field, useConfirm, useNotice } from '../lib/components.js'
import { formatWhen } from '../lib/format.js'
import { useSubmission } from '../lib/forms.js'
import { ListView, SearchForm } from './common.js'
import { ImportForm } from './import.js'
import { usePagedList } from './paged.js'

type Status = Subscriber['status']
const STATUSES: Record<Status, string> = {
  pending: 'Pending',
  confirmed: 'Confirmed',
  unsubscribed: 'Unsubscribed',
}

/** The mailing list: filter, search, add, delete, import from CSV, export as CSV. */
export function SubscribersSection() {
  const [status, setStatus] = useState<Status | ''>('')
  const [search, setSearch] = useState('')
  const [confirmDialog, confirm] = useConfirm()
  const [notice, showNotice] = useNotice()
  const list = usePagedList<Subscriber>(
    `${status}\n${search}`,
    (cursor) =>
      call(
        api.GET('/api/v1/subscribers', {
          params: {
            query: {
              limit: 20,
              ...(status === '' ? {} : { status }),
              ...(search === '' ? {} : { q: search }),
              ...(cursor === undefined ? {} : { cursor }),
            },
          },
        }),
      ),
    'subscribers',
  )

  const remove = async (subscriber: Subscriber) => {
    const sure = await confirm(
      'Delete this subscriber?',
      `${subscriber.name} <${subscriber.email}> will be removed from the list for good.`,
    )
    if (!sure) return
    try {
      await call(
        api.DELETE('/api/v1/subscribers/{id}', { params: { path: { id: subscriber.id } } }),
      )
      list.update((items) => items.filter((item) => item.id !== subscriber.id))
      showNotice(`Deleted ${subscriber.email}.`)
    } catch (error) {
      showNotice(formProblem(error).message, 'error')
    }
  }

  const filtered = status !== '' || search !== ''
  return (
    <section aria-labelledby="subscribers-heading">
      <h2 id="subscribers-heading">Subscribers</h2>
      {notice}
      {confirmDialog}
      <div class="panel-grid">
        <section class="panel" aria-labelledby="add-subscriber-heading">
          <h3 id="add-subscriber-heading">Add a subscriber</h3>
          <AddSubscriberForm
            onAdded={(subscriber) => {
              showNotice(`Added ${subscriber.email}.`)
              list.reload()
            }}
          />
        </section>
        <section class="panel" aria-label="Import and export">
          <ImportForm onImported={list.reload} />
          <h3 class="export-heading">Export</h3>
          <p>
            <a class="button secondary" href="/api/v1/subscribers/export" download>
              Export all subscribers as CSV
            </a>
          </p>
          <p class="hint">Columns id, name, email, status, created_at, confirmed_at.</p>
        </section>
      </div>

      <h3>The list</h3>
      <div class="toolbar">
        <Field
          label="Status"
          name="status"
          control={(control) => (
            <select
              {...control}
              value={status}
              onChange={(event) => setStatus(event.currentTarget.value as Status | '')}
            >
              <option value="">Any status</option>
              {Object.entries(STATUSES).map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          )}
        />
        <SearchForm label="Search subscribers" onSearch={setSearch} />
      </div>
      <ListView
        list={list}
        loading="Loading subscribers…"
        empty={
          filtered
            ? 'No subscriber matches this filter.'
            : 'No subscribers yet. Add one or import a CSV file above.'
        }
        more="Show more subscribers"
      >
        {(items) => (
          <table class="data">
            <caption class="visually-hidden">Subscribers</caption>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Added</th>
                <th scope="col">Confirmed</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((subscriber) => (
                <tr key={subscriber.id}>
                  <th scope="row" data-label="Email" class="wrap">
                    {subscriber.email}
                  </th>
                  <td data-label="Name" class="wrap">
                    {subscriber.name}
                  </td>
                  <td data-label="Status">{STATUSES[subscriber.status]}</td>
                  <td data-label="Added">{formatWhen(subscriber.created_at)}</td>
                  <td data-label="Confirmed">
                    {subscriber.confirmed_at === null ? '—' : formatWhen(subscriber.confirmed_at)}
                  </td>
                  <td data-label="Actions">
                    <div class="row-actions">
                      <button
                        type="button"
                        class="small danger"
                        aria-label={`Delete subscriber ${subscriber.email}`}
                        onClick={() => void remove(subscriber)}
                      >
                        Delete
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListView>
    </section>
  )
}

function AddSubscriberForm(props: { onAdded: (subscriber: Subscriber) => void }) {
  const [name, setName] = useState('')
  const [email, setEmail] = useState('')
  const [status, setStatus] = useState<Status>('confirmed')
  const submission = useSubmission()
  // An address already on the list is a 409 without `errors`: it belongs beside the address.
  const [taken, setTaken] = useState<string | undefined>(undefined)

  const submit = async () => {
    setTaken(undefined)
    let subscriber: Subscriber | undefined
    const ok = await submission.run(async () => {
      try {
        const answer = await call(
          api.POST('/api/v1/subscribers', {
            params: { header: { 'Idempotency-Key': idempotencyKey() } },
            body: { name: name.trim(), email: email.trim(), status },
          }),
        )
        // An admin always gets the subscriber (201); the 202 of a public signup has no id.
        if ('id' in answer) subscriber = answer
      } catch (error) {
        if (error instanceof ProblemError && error.status === 409) {
          setTaken('this address is already on the list')
        }
        throw error
      }
    })
    if (ok && subscriber !== undefined) {
      setName('')
      setEmail('')
      props.onAdded(subscriber)
    }
  }

  return (
    <form
      noValidate
      onSubmit={(event) => {
        event.preventDefault()
        void submit()
      }}
    >
      {submission.problem !== undefined && (
        <Alert kind="error">
          {taken === undefined ? submission.problem.message : 'Please correct the marked fields.'}
        </Alert>
      )}
      <Field
        label="Name"
        name="name"
        error={submission.fieldError('name')}
        control={(control) => (
          <input
            {...control}
            required
            maxLength={100}
            autocomplete="off"
            value={name}
            onInput={(event) => setName(event.currentTarget.value)}
          />
        )}
      />
      <Field
        label="Email"
        name="email"
        error={taken ?? submission.fieldError('email')}
        control={(control) => (
          <input
            {...control}
            type="email"
            required
            maxLength={254}
            autocomplete="off"
            value={email}
            onInput={(event) => setEmail(event.currentTarget.value)}
          />
        )}
      />
      <Field
        label="Status"
        name="status"
        hint="Confirmed subscribers get campaigns. Adding one sends no mail."
        error={submission.fieldError('status')}
        control={(control) => (
          <select
            {...control}
            value={status}
            onChange={(event) => setStatus(event.currentTarget.value as Status)}
          >
            {Object.entries(STATUSES).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        )}
      />
      <button type="submit" disabled={submission.busy}>
        {submission.busy ? 'Adding…' : 'Add subscriber'}
      </button>
    </form>
  )
}
