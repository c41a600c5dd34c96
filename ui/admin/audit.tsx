import { useEffect, useState } from 'preact/hooks'
import type { components } from '../../clients/typescript/src/index.js'
import { api, call, ProblemError, type User } from '../lib/api.js'
import { Field } from '../lib/components.js'
import { ListView } from './common.js'
import { usePagedList } from './paged.js'

type AuditEvent = components['schemas']['AuditEvent']

/** The kinds the server records today, offered as suggestions; any other kind can be typed. */
const KNOWN_KINDS = [
  'login.success',
  'login.failure',
  'logout',
  'password.change',
  'role.change',
  'user.disable',
  'user.enable',
  'user.delete',
  'session.revoke',
  'refresh.reuse',
  'api_key.create',
  'api_key.revoke',
  'api_key.use',
]

// To the second: events of one login or one request come within the same minute.
const AT = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })

interface Filter {
  kind: string
  actor: string
}

/** The audit log, newest first, filtered by kind and by who did it. */
export function AuditSection() {
  const [filter, setFilter] = useState<Filter>({ kind: '', actor: '' })
  const [draft, setDraft] = useState<Filter>(filter)
  const users = useUsers()
  const list = usePagedList<AuditEvent>(
    `${filter.kind}\n${filter.actor}`,
    (cursor) =>
      call(
        api.GET('/api/v1/audit', {
          params: {
            query: {
              limit: 20,
              ...(filter.kind === '' ? {} : { kind: filter.kind }),
              ...(filter.actor === '' ? {} : { actor_id: filter.actor }),
              ...(cursor === undefined ? {} : { cursor }),
            },
          },
        }),
      ),
    'events',
  )
  const names = useNamesOf(users, list.items)
  const nameOf = (id: string | null) => (id === null ? '—' : (names.get(id) ?? id))
  const showActor = (actor: string) => {
    const next = { ...filter, actor }
    setDraft(next)
    setFilter(next)
  }

  return (
    <section aria-labelledby="audit-heading">
      <h2 id="audit-heading">Audit log</h2>
      <form
        class="toolbar"
        aria-label="Filter the audit log"
        onSubmit={(event) => {
          event.preventDefault()
          setFilter({ kind: draft.kind.trim(), actor: draft.actor })
        }}
      >
        <Field
          label="Kind"
          name="kind"
          hint="Such as login.failure; empty for every kind"
          control={(control) => (
            <input
              {...control}
              list="audit-kinds"
              maxLength={64}
              autocomplete="off"
              value={draft.kind}
              onInput={(event) => setDraft({ ...draft, kind: event.currentTarget.value })}
            />
          )}
        />
        <datalist id="audit-kinds">
          {KNOWN_KINDS.map((kind) => (
            <option key={kind} value={kind} />
          ))}
        </datalist>
        <Field
          label="Actor"
          name="actor"
          hint="Who did it"
          control={(control) => (
            <select
              {...control}
              value={draft.actor}
              onChange={(event) => setDraft({ ...draft, actor: event.currentTarget.value })}
            >
              <option value="">Anyone</option>
              {draft.actor !== '' && !users.some((u) => u.id === draft.actor) && (
                <option value={draft.actor}>{draft.actor}</option>
              )}
              {users.map((user) => (
                <option key={user.id} value={user.id}>
                  {user.username} ({user.name})
                </option>
              ))}
            </select>
          )}
        />
        <div class="actions toolbar-actions">
          <button type="submit" class="secondary">
            Filter
          </button>
          {(filter.kind !== '' || filter.actor !== '') && (
            <button
              type="button"
              class="link"
              onClick={() => {
                const none = { kind: '', actor: '' }
                setDraft(none)
                setFilter(none)
              }}
            >
              Show every event
            </button>
          )}
        </div>
      </form>
      <ListView
        list={list}
        loading="Loading events…"
        empty={
          filter.kind === '' && filter.actor === ''
            ? 'No events yet.'
            : 'No event matches this filter.'
        }
        more="Show older events"
      >
        {(items) => (
          <table class="data">
            <caption class="visually-hidden">Security events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Kind</th>
                <th scope="col">Actor</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {items.map((event) => (
                <tr key={event.id}>
                  <th scope="row" data-label="When">
                    <time dateTime={event.at}>{AT.format(new Date(event.at))}</time>
                  </th>
                  <td data-label="Kind">
                    <code>{event.kind}</code>
                  </td>
                  <td data-label="Actor">
                    {event.actor_id === null || event.actor_id === filter.actor ? (
                      nameOf(event.actor_id)
                    ) : (
                      <button
                        type="button"
                        class="link"
                        aria-label={`Show only the events of ${nameOf(event.actor_id)}`}
                        onClick={() => showActor(event.actor_id ?? '')}
                      >
                        {nameOf(event.actor_id)}
                      </button>
                    )}
                  </td>
                  <td data-label="Details" class="wrap">
                    <Details detail={event.detail} nameOf={nameOf} />
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

/** An event's details; a user id (`user_id`) is shown as the username when it is known. */
function Details(props: { detail: Record<string, string>; nameOf: (id: string) => string }) {
  const { detail } = props
  const entries = Object.entries(detail)
  if (entries.length === 0) return <span>—</span>
  return (
    <dl class="detail">
      {entries.map(([key, value]) => (
        <div key={key}>
          <dt>{key}</dt>
          <dd>{key === 'user_id' ? props.nameOf(value) : value}</dd>
        </div>
      ))}
    </dl>
  )
}

/**
 * Usernames for the user ids the shown events name (actors and `user_id`s): the first 100
 * users are known already; any other is read once (`GET /users/{id}`), a deleted one says so.
 */
function useNamesOf(users: User[], events: AuditEvent[] | undefined): Map<string, string> {
  const [looked, setLooked] = useState<ReadonlyMap<string, string>>(new Map())
  const known = new Map(users.map((user) => [user.id, user.username]))
  const missing = new Set<string>()
  for (const event of events ?? []) {
    for (const id of [event.actor_id, event.detail.user_id]) {
      if (id !== null && id !== undefined && !known.has(id) && !looked.has(id)) missing.add(id)
    }
  }
  const key = [...missing].sort().join(',')
  useEffect(() => {
    // Only once the first 100 are in: most ids are among them.
    if (key === '' || users.length === 0) return
    let current = true
    void Promise.all(
      key.split(',').map(async (id): Promise<[string, string]> => {
        try {
          const user = await call(api.GET('/api/v1/users/{id}', { params: { path: { id } } }))
          return [id, user.username]
        } catch (error) {
          const gone = error instanceof ProblemError && error.status === 404
          return [id, gone ? `${id} (deleted)` : id]
        }
      }),
    ).then((found) => {
      if (current) setLooked((old) => new Map([...old, ...found]))
    })
    return () => {
      current = false
    }
  }, [key, users.length])
  return new Map([...looked, ...known])
}

/** Up to the first 100 users, to name the actors and offer them in the filter. */
function useUsers(): User[] {
  const [users, setUsers] = useState<User[]>([])
  useEffect(() => {
    call(api.GET('/api/v1/users', { params: { query: { limit: 100 } } }))
      .then((page) => setUsers(page.items))
      .catch(() => setUsers([]))
  }, [])
  return users
}
