import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { api, call, idempotencyKey, type Todo, type User } from '../lib/api.js'
import {
  Alert,
  CheckboxField,
  Empty,
  Field,
  Loading,
  useConfirm,
  useNotice,
} from '../lib/components.js'
import { dateInputValue, formatWhen } from '../lib/format.js'
import { useSubmission } from '../lib/forms.js'
import type { PageProps, ShellUser } from '../lib/mount.js'

type Sorting = 'due-asc' | 'due-desc' | 'created_at-desc' | 'created_at-asc'
type DoneFilter = 'all' | 'open' | 'done'

interface View {
  sorting: Sorting
  done: DoneFilter
  /** Admins: '' for everyone's todos, or one user's id. */
  owner: string
}

const SORTINGS: Record<Sorting, string> = {
  'due-asc': 'Due date, soonest first',
  'due-desc': 'Due date, latest first',
  'created_at-desc': 'Newest first',
  'created_at-asc': 'Oldest first',
}
const PAGE_SIZE = 20

function query(view: View, cursor: string | undefined) {
  const [sort, order] = view.sorting.split('-') as ['due' | 'created_at', 'asc' | 'desc']
  return {
    sort,
    order,
    limit: PAGE_SIZE,
    ...(view.done === 'all' ? {} : { done: view.done === 'done' }),
    ...(view.owner === '' ? {} : { owner: view.owner }),
    ...(cursor === undefined ? {} : { cursor }),
  }
}

/** The todo board of /app: the caller's todos (an admin's: everyone's, or one user's). */
export function Board({ user }: PageProps) {
  return user === undefined ? null : <TodoBoard user={user} />
}

function TodoBoard({ user }: { user: ShellUser }) {
  const isAdmin = user.role === 'admin'
  const [view, setView] = useState<View>({ sorting: 'due-asc', done: 'all', owner: '' })
  const [items, setItems] = useState<Todo[] | undefined>(undefined)
  const [next, setNext] = useState<string | null>(null)
  const [loadError, setLoadError] = useState<string | undefined>(undefined)
  const [loadingMore, setLoadingMore] = useState(false)
  const [users, setUsers] = useState<User[]>([])
  const [confirmDialog, confirm] = useConfirm()
  const [notice, showNotice] = useNotice()
  // Answers to an older view arriving late must not replace the current one.
  const generation = useRef(0)
  // Where keyboard focus goes when the focused todo is deleted.
  const listHeading = useRef<HTMLHeadingElement>(null)

  const load = useCallback(async (current: View) => {
    generation.current += 1
    const mine = generation.current
    setItems(undefined)
    setLoadError(undefined)
    try {
      const page = await call(
        api.GET('/api/v1/todos', { params: { query: query(current, undefined) } }),
      )
      if (mine !== generation.current) return
      setItems(page.items)
      setNext(page.next_cursor)
    } catch {
      if (mine === generation.current) setLoadError('The todos could not be loaded.')
    }
  }, [])

  useEffect(() => {
    void load(view)
  }, [view, load])

  // Admins pick an owner from the first 100 users, or from those matching a search.
  const [userQuery, setUserQuery] = useState('')
  const [known, setKnown] = useState<ReadonlyMap<string, User>>(new Map())
  useEffect(() => {
    if (!isAdmin) return
    const q = userQuery.trim()
    const timer = setTimeout(() => {
      call(
        api.GET('/api/v1/users', { params: { query: { limit: 100, ...(q === '' ? {} : { q }) } } }),
      )
        .then((page) => {
          setUsers(page.items)
          setKnown((old) => new Map([...old, ...page.items.map((u) => [u.id, u] as const)]))
        })
        .catch(() => setUsers([]))
    }, 250)
    return () => clearTimeout(timer)
  }, [isAdmin, userQuery])

  const loadMore = async () => {
    if (next === null) return
    setLoadingMore(true)
    const mine = generation.current
    try {
      const page = await call(api.GET('/api/v1/todos', { params: { query: query(view, next) } }))
      if (mine !== generation.current) return
      setItems((old) => [...(old ?? []), ...page.items])
      setNext(page.next_cursor)
    } catch {
      showNotice('The next todos could not be loaded.', 'error')
    } finally {
      setLoadingMore(false)
    }
  }

  const replace = (todo: Todo) =>
    setItems((old) => old?.map((item) => (item.id === todo.id ? todo : item)))

  const remove = async (todo: Todo) => {
    const sure = await confirm('Delete this todo?', `“${todo.title}” will be deleted for good.`)
    if (!sure) return
    try {
      await call(api.DELETE('/api/v1/todos/{id}', { params: { path: { id: todo.id } } }))
      setItems((old) => old?.filter((item) => item.id !== todo.id))
      listHeading.current?.focus()
      showNotice(`Deleted “${todo.title}”.`)
    } catch {
      showNotice(`“${todo.title}” could not be deleted.`, 'error')
    }
  }

  const ownerName = (id: string) => (id === user.id ? 'you' : (known.get(id)?.username ?? id))
  // The chosen owner stays in the list while a search shows others.
  const chosen = known.get(view.owner)
  const ownerChoices =
    chosen === undefined || users.some((u) => u.id === chosen.id) ? users : [chosen, ...users]

  return (
    <div>
      {notice}
      {confirmDialog}
      <section class="panel" aria-labelledby="new-todo">
        <h2 id="new-todo">New todo</h2>
        <TodoForm
          isAdmin={isAdmin}
          submitLabel="Add todo"
          onSaved={(todo) => {
            showNotice(`Added “${todo.title}”.`)
            void load(view)
          }}
        />
      </section>

      <section aria-labelledby="list-heading">
        <h2 id="list-heading" tabIndex={-1} ref={listHeading}>
          {isAdmin && view.owner === ''
            ? 'Everyone’s todos'
            : isAdmin
              ? 'Todos of one user'
              : 'Your todos'}
        </h2>
        <div class="toolbar">
          <Field
            label="Sort by"
            name="sorting"
            control={(props) => (
              <select
                {...props}
                value={view.sorting}
                onChange={(event) =>
                  setView({ ...view, sorting: event.currentTarget.value as Sorting })
                }
              >
                {Object.entries(SORTINGS).map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            )}
          />
          <Field
            label="Show"
            name="done"
            control={(props) => (
              <select
                {...props}
                value={view.done}
                onChange={(event) =>
                  setView({ ...view, done: event.currentTarget.value as DoneFilter })
                }
              >
                <option value="all">All todos</option>
                <option value="open">Open only</option>
                <option value="done">Done only</option>
              </select>
            )}
          />
          {isAdmin && (
            <Field
              label="Find a user"
              name="user-search"
              hint="Narrows the owner list by username or name"
              control={(props) => (
                <input
                  {...props}
                  type="search"
                  maxLength={100}
                  value={userQuery}
                  onInput={(event) => setUserQuery(event.currentTarget.value)}
                />
              )}
            />
          )}
          {isAdmin && (
            <Field
              label="Owner"
              name="owner"
              control={(props) => (
                <select
                  {...props}
                  value={view.owner}
                  onChange={(event) => setView({ ...view, owner: event.currentTarget.value })}
                >
                  <option value="">Everyone</option>
                  {ownerChoices.map((u) => (
                    <option key={u.id} value={u.id}>
                      {u.username} ({u.name})
                    </option>
                  ))}
                </select>
              )}
            />
          )}
        </div>

        {loadError !== undefined ? (
          <Alert kind="error">
            {loadError}{' '}
            <button type="button" class="small secondary" onClick={() => void load(view)}>
              Try again
            </button>
          </Alert>
        ) : items === undefined ? (
          <Loading label="Loading todos…" />
        ) : items.length === 0 ? (
          <Empty>
            {view.done === 'all' && view.owner === ''
              ? 'No todos yet. Add the first one above.'
              : 'No todos match this view.'}
          </Empty>
        ) : (
          <ul class="items" aria-label="Todos">
            {items.map((todo) => (
              <TodoItem
                key={todo.id}
                todo={todo}
                user={user}
                owner={isAdmin ? ownerName(todo.owner_id) : undefined}
                onChanged={replace}
                onDelete={() => void remove(todo)}
                onError={(text) => showNotice(text, 'error')}
              />
            ))}
          </ul>
        )}
        {items !== undefined && next !== null && (
          <button type="button" class="secondary" disabled={loadingMore} onClick={loadMore}>
            {loadingMore ? 'Loading…' : 'Show more'}
          </button>
        )}
      </section>
    </div>
  )
}

function TodoItem(props: {
  todo: Todo
  user: ShellUser
  owner: string | undefined
  onChanged: (todo: Todo) => void
  onDelete: () => void
  onError: (text: string) => void
}) {
  const { todo, user } = props
  const isAdmin = user.role === 'admin'
  const [editing, setEditing] = useState(false)
  const [busy, setBusy] = useState(false)
  // Keyboard focus: into the form when editing starts, back to Edit when it ends.
  const editButton = useRef<HTMLButtonElement>(null)
  const wasEditing = useRef(false)
  useEffect(() => {
    if (wasEditing.current && !editing) editButton.current?.focus()
    wasEditing.current = editing
  }, [editing])

  // The box shows the new state at once, not the old one until the server answers.
  const [doneShown, setDoneShown] = useState<boolean | undefined>(undefined)
  const patch = async (body: { public?: boolean; done?: boolean }, failure: string) => {
    setBusy(true)
    setDoneShown(body.done)
    try {
      props.onChanged(
        await call(api.PATCH('/api/v1/todos/{id}', { params: { path: { id: todo.id } }, body })),
      )
    } catch {
      props.onError(failure)
    } finally {
      setBusy(false)
      setDoneShown(undefined)
    }
  }

  if (editing) {
    return (
      <li>
        <h3 class="visually-hidden">Edit “{todo.title}”</h3>
        <TodoForm
          isAdmin={isAdmin}
          todo={todo}
          submitLabel="Save"
          onSaved={(saved) => {
            props.onChanged(saved)
            setEditing(false)
          }}
          onCancel={() => setEditing(false)}
        />
      </li>
    )
  }
  return (
    <li class={todo.done ? 'done-item' : undefined}>
      <div class="item-head">
        <h3>{todo.title}</h3>
        <span>
          {todo.done ? <span class="badge">Done</span> : <span class="badge">Open</span>}
          {todo.public && <span class="badge">Public</span>}
        </span>
      </div>
      {todo.description !== null && todo.description !== '' && (
        <p class="description">{todo.description}</p>
      )}
      <p class="meta">
        {todo.due === null ? 'No due date' : `Due ${formatWhen(todo.due)}`} · created{' '}
        {formatWhen(todo.created_at)}
        {props.owner !== undefined && ` · owner: ${props.owner}`}
      </p>
      <div class="actions">
        {isAdmin && (
          <CheckboxField
            label={
              <>
                Done<span class="visually-hidden"> “{todo.title}”</span>
              </>
            }
            name={`done-${todo.id}`}
            checked={doneShown ?? todo.done}
            onChange={(done) => {
              if (!busy) void patch({ done }, `“${todo.title}” could not be changed.`)
            }}
          />
        )}
        <button
          type="button"
          class="small secondary"
          ref={editButton}
          onClick={() => setEditing(true)}
        >
          Edit<span class="visually-hidden"> “{todo.title}”</span>
        </button>
        <button
          type="button"
          class="small secondary"
          disabled={busy}
          onClick={() =>
            void patch({ public: !todo.public }, `“${todo.title}” could not be changed.`)
          }
        >
          {todo.public ? 'Make private' : 'Make public'}
          <span class="visually-hidden"> “{todo.title}”</span>
        </button>
        <button type="button" class="small danger" onClick={props.onDelete}>
          Delete<span class="visually-hidden"> “{todo.title}”</span>
        </button>
      </div>
    </li>
  )
}

/** Creates a todo, or edits one (`todo`): only the fields that changed are sent. */
function TodoForm(props: {
  isAdmin: boolean
  todo?: Todo
  submitLabel: string
  onSaved: (todo: Todo) => void
  onCancel?: () => void
}) {
  const original = props.todo
  const [title, setTitle] = useState(original?.title ?? '')
  const form = useRef<HTMLFormElement>(null)
  useEffect(() => {
    if (original !== undefined) form.current?.querySelector('input')?.focus()
  }, [original])
  const [description, setDescription] = useState(original?.description ?? '')
  const [due, setDue] = useState(dateInputValue(original?.due ?? null))
  const [isPublic, setPublic] = useState(original?.public ?? false)
  const [done, setDone] = useState(original?.done ?? false)
  const submission = useSubmission()

  const onSubmit = async (event: Event) => {
    event.preventDefault()
    const fields = {
      title,
      description: description === '' ? null : description,
      // A date-time due keeps its time unless its day is changed here.
      due: due === '' ? null : due,
      public: isPublic,
      ...(props.isAdmin ? { done } : {}),
    }
    await submission.run(async () => {
      if (original === undefined) {
        const todo = await call(
          api.POST('/api/v1/todos', {
            params: { header: { 'Idempotency-Key': idempotencyKey() } },
            body: fields,
          }),
        )
        setTitle('')
        setDescription('')
        setDue('')
        setPublic(false)
        setDone(false)
        props.onSaved(todo)
        return
      }
      const changed = {
        ...(fields.title !== original.title ? { title: fields.title } : {}),
        ...(fields.description !== original.description ? { description: fields.description } : {}),
        ...(due !== dateInputValue(original.due) ? { due: fields.due } : {}),
        ...(fields.public !== original.public ? { public: fields.public } : {}),
        ...(props.isAdmin && done !== original.done ? { done } : {}),
      }
      props.onSaved(
        await call(
          api.PATCH('/api/v1/todos/{id}', {
            params: { path: { id: original.id } },
            body: changed,
          }),
        ),
      )
    })
  }

  return (
    <form onSubmit={onSubmit} ref={form}>
      {submission.problem !== undefined && <Alert kind="error">{submission.problem.message}</Alert>}
      <Field
        label="Title"
        name="title"
        error={submission.fieldError('title')}
        control={(p) => (
          <input
            {...p}
            required
            maxLength={200}
            value={title}
            onInput={(event) => setTitle(event.currentTarget.value)}
          />
        )}
      />
      <Field
        label="Description (optional)"
        name="description"
        error={submission.fieldError('description')}
        control={(p) => (
          <textarea
            {...p}
            maxLength={10000}
            value={description}
            onInput={(event) => setDescription(event.currentTarget.value)}
          />
        )}
      />
      <div class="row">
        <Field
          label="Due date (optional)"
          name="due"
          error={submission.fieldError('due')}
          control={(p) => (
            <input
              {...p}
              type="date"
              value={due}
              onInput={(event) => setDue(event.currentTarget.value)}
            />
          )}
        />
        <div>
          <CheckboxField
            label="Public: anyone may read it"
            name="public"
            checked={isPublic}
            onChange={setPublic}
            error={submission.fieldError('public')}
          />
          {props.isAdmin && (
            <CheckboxField
              label="Done"
              name="done"
              checked={done}
              onChange={setDone}
              error={submission.fieldError('done')}
            />
          )}
        </div>
      </div>
      <div class="actions">
        <button type="submit" disabled={submission.busy}>
          {submission.busy ? 'Saving…' : props.submitLabel}
        </button>
        {props.onCancel !== undefined && (
          <button type="button" class="secondary" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  )
}
