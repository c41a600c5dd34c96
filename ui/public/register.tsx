import { useState } from 'preact/hooks'
import { api, call } from '../lib/api.js'
import { Alert, Field } from '../lib/components.js'
import { useSubmission } from '../lib/forms.js'
import type { PageProps } from '../lib/mount.js'

/** Registration; on success, to the sign-in form with a note that the account exists. */
export function RegisterForm({ data }: PageProps) {
  const passwordMin = Number(data.passwordMin ?? 12)
  const [username, setUsername] = useState('')
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const submission = useSubmission()

  const onSubmit = async (event: Event) => {
    event.preventDefault()
    const done = await submission.run(() =>
      call(api.POST('/api/v1/auth/register', { body: { username, password, name } })),
    )
    if (done) location.assign('/login?notice=registered')
  }

  return (
    <form onSubmit={onSubmit}>
      {submission.problem !== undefined && <Alert kind="error">{submission.problem.message}</Alert>}
      <Field
        label="Username"
        name="username"
        hint="3 to 32 characters: lowercase letters, digits, and _ . -"
        error={submission.fieldError('username')}
        control={(props) => (
          <input
            {...props}
            autocomplete="username"
            autocapitalize="none"
            spellcheck={false}
            required
            minLength={3}
            maxLength={32}
            pattern="[a-z0-9_.\-]{3,32}"
            value={username}
            onInput={(event) => setUsername(event.currentTarget.value)}
          />
        )}
      />
      <Field
        label="Your name"
        name="name"
        hint="As others will see it"
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
        label="Password"
        name="password"
        hint={`At least ${passwordMin} characters. A few unrelated words make a good one; very common passwords are refused.`}
        error={submission.fieldError('password')}
        control={(props) => (
          <input
            {...props}
            type="password"
            autocomplete="new-password"
            required
            minLength={passwordMin}
            maxLength={1024}
            value={password}
            onInput={(event) => setPassword(event.currentTarget.value)}
          />
        )}
      />
      <button type="submit" disabled={submission.busy}>
        {submission.busy ? 'Creating your account…' : 'Create account'}
      </button>
    </form>
  )
}
