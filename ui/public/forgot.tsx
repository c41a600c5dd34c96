import { useState } from 'preact/hooks'
import { api, call } from '../lib/api.js'
import { Alert, Field } from '../lib/components.js'
import { useSubmission } from '../lib/forms.js'

/**
 * "Forgot your password?": asks the API to mail a reset link. The answer is the same whether or
 * not the account exists or has a verified address (API.md §10), and so is this page's.
 */
export function ForgotPasswordForm() {
  const [login, setLogin] = useState('')
  const [sent, setSent] = useState(false)
  const submission = useSubmission()

  const onSubmit = async (event: Event) => {
    event.preventDefault()
    const done = await submission.run(() =>
      call(api.POST('/api/v1/auth/password-reset', { body: { login } })),
    )
    if (done) setSent(true)
  }

  if (sent) {
    return (
      <Alert kind="success">
        If that account has a verified email address, a link to choose a new password is on its way
        to it. No verified address? Ask an admin to set a new password for you.
      </Alert>
    )
  }
  return (
    <form onSubmit={onSubmit}>
      {submission.problem !== undefined && <Alert kind="error">{submission.problem.message}</Alert>}
      <Field
        label="Username or email address"
        name="login"
        error={submission.fieldError('login')}
        control={(props) => (
          <input
            {...props}
            autocomplete="username"
            autocapitalize="none"
            spellcheck={false}
            required
            maxLength={254}
            value={login}
            onInput={(event) => setLogin(event.currentTarget.value)}
          />
        )}
      />
      <button type="submit" disabled={submission.busy}>
        {submission.busy ? 'Sending…' : 'Mail me a reset link'}
      </button>
    </form>
  )
}
