import { useState } from 'preact/hooks'
import { api, call, idempotencyKey } from '../lib/api.js'
import { Alert, Field } from '../lib/components.js'
import { useSubmission } from '../lib/forms.js'

/** The mailing list's public signup: the server answers the same for any address (202). */
export function SubscribeForm() {
  const [name, setName] = useState('')
  const [email, setEmail] = useState('')
  const [outcome, setOutcome] = useState<{ email: string; added: boolean } | undefined>()
  const submission = useSubmission()

  const onSubmit = async (event: Event) => {
    event.preventDefault()
    await submission.run(async () => {
      const answer = await call(
        api.POST('/api/v1/subscribers', {
          params: { header: { 'Idempotency-Key': idempotencyKey() } },
          body: { name, email },
        }),
      )
      // A signed-in admin adds a confirmed subscriber (201) instead of signing up (202).
      setOutcome({ email, added: answer.status !== 'pending' })
    })
  }

  if (outcome !== undefined) {
    return outcome.added ? (
      <Alert kind="success">
        <strong>{outcome.email}</strong> is on the list, confirmed (you are signed in as an admin,
        so no mail was sent).
      </Alert>
    ) : (
      <Alert kind="success">
        Almost done: we sent a link to <strong>{outcome.email}</strong>. Open it to confirm your
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
