import { useCallback, useEffect, useState } from 'preact/hooks'
import {
  type ApiKey,
  api,
  call,
  everyItem,
  idempotencyKey,
  type NewApiKey,
  type Session,
  type User,
} from '../lib/api.js'
import { Alert, Empty, Field, Loading, useConfirm, useNotice } from '../lib/components.js'
import { formatWhen } from '../lib/format.js'
import { useSubmission } from '../lib/forms.js'
import type { PageProps } from '../lib/mount.js'
import { TwoFactorSection } from './two-factor.js'

/** /app/account: name, email, password, two-factor login, sessions and API keys of the signed-in user. */
export function Account({ user, data }: PageProps) {
  const [confirmDialog, confirm] = useConfirm()
  const [notice, showNotice] = useNotice()
  const passwordMin = Number(data.passwordMin ?? 12)
  return (
    <div>
      {notice}
      {confirmDialog}
      <ProfileSection showNotice={showNotice} />
      <PasswordSection
        username={user?.username ?? ''}
        passwordMin={passwordMin}
        showNotice={showNotice}
      />
      <TwoFactorSection username={user?.username ?? ''} showNotice={showNotice} />
      <SessionsSection confirm={confirm} showNotice={showNotice} />
      <ApiKeysSection confirm={confirm} showNotice={showNotice} />
    </div>
  )
}

type ShowNotice = (text: string, kind?: 'success' | 'error') => void
type Confirm = (title: string, message: string, action?: string) => Promise<boolean>

function ProfileSection({ showNotice }: { showNotice: ShowNotice }) {
  const [profile, setProfile] = useState<User | undefined>(undefined)
  const [name, setName] = useState('')
  const [email, setEmail] = useState('')
  const [loadError, setLoadError] = useState(false)
  const submission = useSubmission()

  const show = (user: User) => {
    setProfile(user)
    setName(user.name)
    setEmail(user.email ?? '')
  }
  useEffect(() => {
    call(api.GET('/api/v1/profile'))
      .then(show)
      .catch(() => setLoadError(true))
  }, [])

  const onSubmit = async (event: Event) => {
    event.preventDefault()
    if (profile === undefined) return
    const newEmail = email.trim()
    // Only a changed address is sent: sending the same one again would mail a new link.
    const emailChange =
      newEmail === (profile.email ?? '') ? {} : { email: newEmail === '' ? null : newEmail }
    await submission.run(async () => {
      const user = await call(api.PATCH('/api/v1/profile', { body: { name, ...emailChange } }))
      show(user)
      showNotice(
        user.email !== null && 'email' in emailChange
          ? `Saved. We mailed a link to ${user.email}: open it to verify the address.`
          : 'Your profile is saved.',
      )
    })
  }

  return (
    <section class="panel" aria-labelledby="profile-heading">
      <h2 id="profile-heading">Profile</h2>
      {loadError ? (
        <Alert kind="error">Your profile could not be loaded.</Alert>
      ) : profile === undefined ? (
        <Loading />
      ) : (
        <form onSubmit={onSubmit}>
          <p class="meta">
            Username <strong>{profile.username}</strong> · {profile.role} · member since{' '}
            {formatWhen(profile.created_at)}
          </p>
          {submission.problem !== undefined && (
            <Alert kind="error">{submission.problem.message}</Alert>
          )}
          <Field
            label="Name"
            name="name"
            error={submission.fieldError('name')}
            control={(props) => (
              <input
                {...props}
                autocomplete="name"
                required
                maxLength={100}
                value={name}
                onInput={(event) => setName(event.currentTarget.value)}
              />
            )}
          />
          <Field
            label="Email (optional)"
            name="email"
            hint={
              profile.email === null
                ? 'For a link to reset your password if you forget it.'
                : profile.email_verified
                  ? 'Verified.'
                  : 'Not verified yet: open the link we mailed to it.'
            }
            error={submission.fieldError('email')}
            control={(props) => (
              <input
                {...props}
                type="email"
                autocomplete="email"
                maxLength={254}
                value={email}
                onInput={(event) => setEmail(event.currentTarget.value)}
              />
            )}
          />
          <button type="submit" disabled={submission.busy}>
            Save profile
          </button>
        </form>
      )}
    </section>
  )
}

function PasswordSection(props: { username: string; passwordMin: number; showNotice: ShowNotice }) {
  const [current, setCurrent] = useState('')
  const [next, setNext] = useState('')
  const [repeat, setRepeat] = useState('')
  const [mismatch, setMismatch] = useState(false)
  const submission = useSubmission()

  const onSubmit = async (event: Event) => {
    event.preventDefault()
    setMismatch(next !== repeat)
    if (next !== repeat) return
    const done = await submission.run(() =>
      call(
        api.POST('/api/v1/profile/password', {
          body: { current_password: current, new_password: next },
        }),
      ),
    )
    if (done) {
      setCurrent('')
      setNext('')
      setRepeat('')
      props.showNotice('Password changed. Every other session has been signed out.')
    }
  }

  return (
    <section class="panel" aria-labelledby="password-heading">
      <h2 id="password-heading">Password</h2>
      <form onSubmit={onSubmit}>
        {/* Lets a password manager file the new password under the right account. */}
        <input
          type="text"
          name="username"
          autocomplete="username"
          value={props.username}
          hidden
          readOnly
        />
        {submission.problem !== undefined && (
          <Alert kind="error">{submission.problem.message}</Alert>
        )}
        <Field
          label="Current password"
          name="current_password"
          error={submission.fieldError('current_password')}
          control={(p) => (
            <input
              {...p}
              type="password"
              autocomplete="current-password"
              required
              value={current}
              onInput={(event) => setCurrent(event.currentTarget.value)}
            />
          )}
        />
        <Field
          label="New password"
          name="new_password"
          hint={`At least ${props.passwordMin} characters; very common passwords are refused.`}
          error={submission.fieldError('new_password')}
          control={(p) => (
            <input
              {...p}
              type="password"
              autocomplete="new-password"
              required
              minLength={props.passwordMin}
              maxLength={1024}
              value={next}
              onInput={(event) => setNext(event.currentTarget.value)}
            />
          )}
        />
        <Field
          label="New password again"
          name="repeat_password"
          error={mismatch ? 'does not match the new password' : undefined}
          control={(p) => (
            <input
              {...p}
              type="password"
              autocomplete="new-password"
              required
              value={repeat}
              onInput={(event) => setRepeat(event.currentTarget.value)}
            />
          )}
        />
        <button type="submit" disabled={submission.busy}>
          Change password
        </button>
      </form>
    </section>
  )
}

const BROWSERS: [string, string][] = [
  ['Edg/', 'Edge'],
  ['Firefox/', 'Firefox'],
  ['HeadlessChrome/', 'Headless Chrome'],
  ['Chrome/', 'Chrome'],
  ['Safari/', 'Safari'],
]
const SYSTEMS: [string, string][] = [
  ['Android', 'Android'],
  ['iPhone', 'iPhone'],
  ['iPad', 'iPad'],
  ['Windows', 'Windows'],
  ['Mac OS X', 'macOS'],
  ['Linux', 'Linux'],
]

/** "Firefox on Windows" for a browser; a script's own name (`curl/8.5.0`) otherwise. */
function describeAgent(agent: string | null): string {
  if (agent === null || agent === '') return 'Unknown client'
  const browser = BROWSERS.find(([marker]) => agent.includes(marker))?.[1]
  const system = SYSTEMS.find(([marker]) => agent.includes(marker))?.[1]
  if (browser !== undefined) return system === undefined ? browser : `${browser} on ${system}`
  const first = agent.split(' ')[0] ?? agent
  return first.length > 60 ? `${first.slice(0, 60)}…` : first
}

function SessionsSection(props: { confirm: Confirm; showNotice: ShowNotice }) {
  const [sessions, setSessions] = useState<Session[] | undefined>(undefined)
  const [loadError, setLoadError] = useState(false)

  const load = useCallback(() => {
    setLoadError(false)
    everyItem((query) => call(api.GET('/api/v1/profile/sessions', { params: { query } })))
      .then(setSessions)
      .catch(() => setLoadError(true))
  }, [])
  useEffect(load, [])

  const end = async (session: Session) => {
    const sure = await props.confirm(
      'End this session?',
      `${describeAgent(session.user_agent)} will be signed out.`,
      'End session',
    )
    if (!sure) return
    try {
      await call(
        api.DELETE('/api/v1/profile/sessions/{id}', { params: { path: { id: session.id } } }),
      )
      props.showNotice('The session has ended.')
      // Its button is gone: keep keyboard focus in this section.
      document.getElementById('sessions-heading')?.focus()
      load()
    } catch {
      props.showNotice('The session could not be ended.', 'error')
    }
  }

  const endOthers = async () => {
    const sure = await props.confirm(
      'End every other session?',
      'Every browser and app signed in as you, except this one, will be signed out.',
      'End other sessions',
    )
    if (!sure) return
    try {
      await call(api.DELETE('/api/v1/profile/sessions'))
      props.showNotice('Every other session has ended.')
      document.getElementById('sessions-heading')?.focus()
      load()
    } catch {
      props.showNotice('The sessions could not be ended.', 'error')
    }
  }

  const others = sessions?.filter((session) => !session.current) ?? []
  return (
    <section class="panel" aria-labelledby="sessions-heading">
      <h2 id="sessions-heading" tabIndex={-1}>
        Sessions
      </h2>
      <p class="meta">
        Where you are signed in: browsers, and apps that logged in with your password.
      </p>
      {loadError ? (
        <Alert kind="error">Your sessions could not be loaded.</Alert>
      ) : sessions === undefined ? (
        <Loading />
      ) : sessions.length === 0 ? (
        <Empty>No sessions.</Empty>
      ) : (
        <ul class="items">
          {sessions.map((session) => (
            <li key={session.id}>
              <div class="item-head">
                <h3>{describeAgent(session.user_agent)}</h3>
                {session.current && <span class="badge">This session</span>}
              </div>
              <p class="meta">
                Signed in {formatWhen(session.created_at)} · last used{' '}
                {formatWhen(session.last_used_at)}
              </p>
              {!session.current && (
                <button type="button" class="small danger" onClick={() => void end(session)}>
                  End session
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {others.length > 0 && (
        <button type="button" class="secondary" onClick={() => void endOthers()}>
          End all other sessions
        </button>
      )}
    </section>
  )
}

/** The end of the chosen day in the reader's time zone, as the API's date-time. */
function endOfDay(date: string): string {
  return new Date(`${date}T23:59:59`).toISOString()
}

function ApiKeysSection(props: { confirm: Confirm; showNotice: ShowNotice }) {
  const [keys, setKeys] = useState<ApiKey[] | undefined>(undefined)
  const [loadError, setLoadError] = useState(false)
  const [name, setName] = useState('')
  const [expires, setExpires] = useState('')
  const [created, setCreated] = useState<NewApiKey | undefined>(undefined)
  const submission = useSubmission()

  const load = useCallback(() => {
    setLoadError(false)
    everyItem((query) => call(api.GET('/api/v1/profile/api-keys', { params: { query } })))
      .then(setKeys)
      .catch(() => setLoadError(true))
  }, [])
  useEffect(load, [])

  const onSubmit = async (event: Event) => {
    event.preventDefault()
    await submission.run(async () => {
      const key = await call(
        api.POST('/api/v1/profile/api-keys', {
          params: { header: { 'Idempotency-Key': idempotencyKey() } },
          body: { name, ...(expires === '' ? {} : { expires_at: endOfDay(expires) }) },
        }),
      )
      setCreated(key)
      setName('')
      setExpires('')
      load()
    })
  }

  const remove = async (key: ApiKey) => {
    const sure = await props.confirm(
      'Delete this API key?',
      `“${key.name}” (${key.prefix}…) stops working at once.`,
    )
    if (!sure) return
    try {
      await call(api.DELETE('/api/v1/profile/api-keys/{id}', { params: { path: { id: key.id } } }))
      if (created?.id === key.id) setCreated(undefined)
      props.showNotice(`Deleted the key “${key.name}”.`)
      document.getElementById('keys-heading')?.focus()
      load()
    } catch {
      props.showNotice('The key could not be deleted.', 'error')
    }
  }

  return (
    <section class="panel" aria-labelledby="keys-heading">
      <h2 id="keys-heading" tabIndex={-1}>
        API keys
      </h2>
      <p class="meta">
        For scripts and servers: send a key as <code>Authorization: Bearer gh_…</code>.
      </p>
      {created !== undefined && (
        <Alert kind="success">
          <p>The key “{created.name}” — copy it now, it is shown only once:</p>
          <p class="secret">{created.key}</p>
          <button type="button" class="small secondary" onClick={() => setCreated(undefined)}>
            I have copied it
          </button>
        </Alert>
      )}
      {loadError ? (
        <Alert kind="error">Your API keys could not be loaded.</Alert>
      ) : keys === undefined ? (
        <Loading />
      ) : keys.length === 0 ? (
        <Empty>No API keys yet.</Empty>
      ) : (
        <ul class="items">
          {keys.map((key) => (
            <li key={key.id}>
              <div class="item-head">
                <h3>{key.name}</h3>
                <code>{key.prefix}…</code>
              </div>
              <p class="meta">
                Created {formatWhen(key.created_at)} ·{' '}
                {key.expires_at === null
                  ? 'never expires'
                  : `expires ${formatWhen(key.expires_at)}`}{' '}
                ·{' '}
                {key.last_used_at === null
                  ? 'never used'
                  : `last used ${formatWhen(key.last_used_at)}`}
              </p>
              <button type="button" class="small danger" onClick={() => void remove(key)}>
                Delete<span class="visually-hidden"> the key “{key.name}”</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <h3 class="subheading">New key</h3>
      <form onSubmit={onSubmit}>
        {submission.problem !== undefined && (
          <Alert kind="error">{submission.problem.message}</Alert>
        )}
        <div class="row">
          <Field
            label="Name"
            name="name"
            hint="What it is for, such as “CI deploys”"
            error={submission.fieldError('name')}
            control={(p) => (
              <input
                {...p}
                required
                maxLength={100}
                value={name}
                onInput={(event) => setName(event.currentTarget.value)}
              />
            )}
          />
          <Field
            label="Expires (optional)"
            name="expires_at"
            hint="At the end of that day"
            error={submission.fieldError('expires_at')}
            control={(p) => (
              <input
                {...p}
                type="date"
                value={expires}
                onInput={(event) => setExpires(event.currentTarget.value)}
              />
            )}
          />
        </div>
        <button type="submit" disabled={submission.busy}>
          Create key
        </button>
      </form>
    </section>
  )
}
