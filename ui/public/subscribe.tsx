import { useState } from 'preact/hooks'
import { api, call, idempotencyKey } from '../lib/api.js'
import { Alert, Field } from '../lib/components.js'
import { useSubmission } from '../lib/forms.js'

/** The mailing list's public signup: the server answers the same for any address (202). */
export function SubscribeForm() {
  const [name, setName] = useState('')
  const [email, setEmail] = useState('')
  const [sentTo, setSentTo] = useState<string | undefined>(undefined)
  const submission = useSubmission()

  const onSubmit = async (event: Event) => {
    event.preventDefault()
    const done = await submission.run(() =>
      call(
        api.POST('/api/v1/subscribers', {
          params: { header: { 'Idempotency-Key': idempotencyKey() } },
          body: { name, email },
        }),
      ),
    )
    if (done) setSentTo(email)
  }

  if (sentTo !== undefined) {
    return (
      <Alert kind="success">
        Almost done: we sent a link to <strong>{sentTo}</strong>. Open it to confirm your
        subscription.
      </Alert>
    )
  }
  return (
    <form onSubmit={onSubmit} noValidate={false}>
      {submission.problem !== undefined && <Alert kind="error">{submission.problem.message}</Alert>}
      <Field
        label="Your name"
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
        label="Email address"
        name="email"
        error={submission.fieldError('email')}
        control={(props) => (
          <input
            {...props}
            type="email"
            autocomplete="email"
            required
            value={email}
            onInput={(event) => setEmail(event.currentTarget.value)}
          />
        )}
      />
      <button type="submit" disabled={submission.busy}>
        {submission.busy ? 'Subscribing…' : 'Subscribe'}
      </button>
    </form>
  )
}
