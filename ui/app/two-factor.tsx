import { useEffect, useState } from 'preact/hooks'
import { api, call, type TotpSetUp } from '../lib/api.js'
import { Alert, Field, Loading } from '../lib/components.js'
import { type Submission, useSubmission } from '../lib/forms.js'

type ShowNotice = (text: string, kind?: 'success' | 'error') => void

/** The QR code of an otpauth:// URI, as an SVG data: URL (the page CSP allows data: images). */
async function qrImage(uri: string): Promise<string> {
  // Loaded only when a set-up starts: most visits of the account page never need it.
  // A CommonJS module: its functions are on the default export once bundled (a namespace's
  // own `toString` is lost).
  const QRCode = (await import('qrcode')).default
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 })
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`
}

/** A wrong password is a 401 on `current_password`'s behalf: shown beside this form's field. */
const passwordError = (submission: Submission) =>
  submission.fieldError('password') ?? submission.fieldError('current_password')

function CodeField(props: {
  label: string
  hint: string
  value: string
  submission: Submission
  onInput: (value: string) => void
}) {
  return (
    <Field
      label={props.label}
      name="code"
      hint={props.hint}
      error={props.submission.fieldError('code')}
      control={(p) => (
        <input
          {...p}
          autocomplete="one-time-code"
          autocapitalize="none"
          spellcheck={false}
          required
          minLength={6}
          maxLength={32}
          value={props.value}
          onInput={(event) => props.onInput(event.currentTarget.value)}
        />
      )}
    />
  )
}

function PasswordField(props: {
  username: string
  value: string
  submission: Submission
  onInput: (value: string) => void
}) {
  return (
    <>
      {/* Lets a password manager fill in the password of the right account. */}
      <input
        type="text"
        name="username"
        autocomplete="username"
        value={props.username}
        hidden
        readOnly
      />
      <Field
        label="Password"
        name="password"
        error={passwordError(props.submission)}
        control={(p) => (
          <input
            {...p}
            type="password"
            autocomplete="current-password"
            required
            value={props.value}
            onInput={(event) => props.onInput(event.currentTarget.value)}
          />
        )}
      />
    </>
  )
}

/** Recovery codes, shown once: right after confirming or regenerating. */
function RecoveryCodesShown(props: { codes: string[]; onDone: () => void }) {
  return (
    <Alert kind="success">
      <p>
        Your recovery codes — save them somewhere safe now, they are shown only once. Each works
        once in place of a code if you lose your authenticator.
      </p>
      <ul class="recovery-codes" aria-label="Recovery codes">
        {props.codes.map((code) => (
          <li key={code}>
            <code class="secret">{code}</code>
          </li>
        ))}
      </ul>
      <button type="button" class="small secondary" onClick={props.onDone}>
        I have saved them
      </button>
    </Alert>
  )
}

/** /app/account: turning two-factor login on and off, and the recovery codes. */
export function TwoFactorSection({
  username,
  showNotice,
}: {
  username: string
  showNotice: ShowNotice
}) {
  const [enabled, setEnabled] = useState<boolean | undefined>(undefined)
  const [loadError, setLoadError] = useState(false)
  const [pending, setPending] = useState<(TotpSetUp & { qr: string }) | undefined>(undefined)
  const [codes, setCodes] = useState<string[] | undefined>(undefined)
  const [password, setPassword] = useState('')
  const [code, setCode] = useState('')
  const [offPassword, setOffPassword] = useState('')
  const [offCode, setOffCode] = useState('')
  const start = useSubmission()
  const confirm = useSubmission()
  const regenerate = useSubmission()
  const turnOff = useSubmission()

  useEffect(() => {
    call(api.GET('/api/v1/profile'))
      .then((user) => setEnabled(user.mfa_enabled))
      .catch(() => setLoadError(true))
  }, [])

  const focusHeading = () => document.getElementById('mfa-heading')?.focus()

  const onStart = async (event: Event) => {
    event.preventDefault()
    await start.run(async () => {
      const setUp = await call(api.POST('/api/v1/profile/mfa/totp', { body: { password } }))
      setPending({ ...setUp, qr: await qrImage(setUp.otpauth_uri) })
      setPassword('')
    })
  }

  const onConfirm = async (event: Event) => {
    event.preventDefault()
    await confirm.run(async () => {
      const made = await call(api.POST('/api/v1/profile/mfa/totp/confirm', { body: { code } }))
      setCodes(made.recovery_codes)
      setPending(undefined)
      setCode('')
      setEnabled(true)
      showNotice('Two-factor login is on. Every other session has been signed out.')
      focusHeading()
    })
  }

  const onRegenerate = async (event: Event) => {
    event.preventDefault()
    await regenerate.run(async () => {
      const made = await call(api.POST('/api/v1/profile/mfa/recovery-codes', { body: { code } }))
      setCodes(made.recovery_codes)
      setCode('')
      showNotice('New recovery codes: the old ones no longer work.')
    })
  }

  const onTurnOff = async (event: Event) => {
    event.preventDefault()
    const done = await turnOff.run(() =>
      call(
        api.DELETE('/api/v1/profile/mfa/totp', {
          body: { password: offPassword, code: offCode },
        }),
      ),
    )
    if (done) {
      setOffPassword('')
      setOffCode('')
      setCodes(undefined)
      setEnabled(false)
      showNotice('Two-factor login is off.')
      focusHeading()
    }
  }

  return (
    <section class="panel" aria-labelledby="mfa-heading">
      <h2 id="mfa-heading" tabIndex={-1}>
        Two-factor login
      </h2>
      {codes !== undefined && (
        <RecoveryCodesShown codes={codes} onDone={() => setCodes(undefined)} />
      )}
      {loadError ? (
        <Alert kind="error">Whether two-factor login is on could not be loaded.</Alert>
      ) : enabled === undefined ? (
        <Loading />
      ) : enabled ? (
        <>
          <p class="meta">
            On: signing in asks for a code from your authenticator app after the password. Scripts
            sign in with a token or an API key (Basic credentials are refused).
          </p>
          <h3 class="subheading">New recovery codes</h3>
          <form onSubmit={onRegenerate}>
            {regenerate.problem !== undefined && (
              <Alert kind="error">{regenerate.problem.message}</Alert>
            )}
            <CodeField
              label="Code"
              hint="From your authenticator app, or a recovery code"
              value={code}
              submission={regenerate}
              onInput={setCode}
            />
            <button type="submit" disabled={regenerate.busy}>
              Make new recovery codes
            </button>
          </form>
          <h3 class="subheading">Turn off</h3>
          <form onSubmit={onTurnOff}>
            {turnOff.problem !== undefined && <Alert kind="error">{turnOff.problem.message}</Alert>}
            <div class="row">
              <PasswordField
                username={username}
                value={offPassword}
                submission={turnOff}
                onInput={setOffPassword}
              />
              <CodeField
                label="Code"
                hint="From your authenticator app, or a recovery code"
                value={offCode}
                submission={turnOff}
                onInput={setOffCode}
              />
            </div>
            <button type="submit" class="danger" disabled={turnOff.busy}>
              Turn off two-factor login
            </button>
          </form>
        </>
      ) : pending === undefined ? (
        <>
          <p class="meta">
            Off. With it on, signing in also asks for a code from an authenticator app on your
            phone.
          </p>
          <form onSubmit={onStart}>
            {start.problem !== undefined && <Alert kind="error">{start.problem.message}</Alert>}
            <PasswordField
              username={username}
              value={password}
              submission={start}
              onInput={setPassword}
            />
            <button type="submit" disabled={start.busy}>
              Set up two-factor login
            </button>
          </form>
        </>
      ) : (
        <>
          <p>
            Scan this QR code with your authenticator app, or type the key below into it. Then enter
            the 6-digit code it shows.
          </p>
          <img
            class="qr"
            src={pending.qr}
            width={200}
            height={200}
            alt="QR code for your authenticator app (the same key is written below)"
          />
          <p>
            Key:{' '}
            <code class="secret" id="mfa-secret">
              {pending.secret}
            </code>
          </p>
          <form onSubmit={onConfirm}>
            {confirm.problem !== undefined && <Alert kind="error">{confirm.problem.message}</Alert>}
            <CodeField
              label="Code from the app"
              hint="6 digits"
              value={code}
              submission={confirm}
              onInput={setCode}
            />
            <button type="submit" disabled={confirm.busy}>
              Turn on two-factor login
            </button>{' '}
            <button type="button" class="secondary" onClick={() => setPending(undefined)}>
              Cancel
            </button>
          </form>
        </>
      )}
    </section>
  )
}
