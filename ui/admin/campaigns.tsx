import { useEffect, useRef, useState } from 'preact/hooks'
import type { Campaign } from '../../clients/typescript/src/index.js'
import { api, call, formProblem, idempotencyKey } from '../lib/api.js'
import { Alert, Field, useConfirm, useNotice } from '../lib/components.js'
import { formatWhen } from '../lib/format.js'
import { useSubmission } from '../lib/forms.js'
import { ListView } from './common.js'
import { usePagedList } from './paged.js'

/** How often a sending campaign's counts are read again. */
const POLL_MS = 1000

const STATUS_LABELS: Record<Campaign['status'], string> = {
  draft: 'Draft',
  sending: 'Sending',
  sent: 'Sent',
}

const count = new Intl.NumberFormat()

/** Campaigns: write a draft, send it, and watch its sent/failed counts until it is sent. */
export function CampaignsSection() {
  const [confirmDialog, confirm] = useConfirm()
  const [notice, showNotice] = useNotice()
  const list = usePagedList<Campaign>(
    'campaigns',
    (cursor) =>
      call(
        api.GET('/api/v1/campaigns', {
          params: { query: { limit: 20, ...(cursor === undefined ? {} : { cursor }) } },
        }),
      ),
    'campaigns',
  )
  const replace = (campaign: Campaign) =>
    list.update((items) => items.map((item) => (item.id === campaign.id ? campaign : item)))

  const sending = (list.items ?? []).filter((c) => c.status === 'sending').map((c) => c.id)
  usePolling(sending, (campaign) => {
    replace(campaign)
    if (campaign.status === 'sent') {
      showNotice(
        `“${campaign.subject}” is sent: ${count.format(campaign.sent)} sent, ${count.format(campaign.failed)} failed.`,
      )
    }
  })

  const send = async (campaign: Campaign) => {
    const sure = await confirm(
      'Send this campaign?',
      `“${campaign.subject}” goes to every confirmed subscriber now. This cannot be undone.`,
      'Send now',
    )
    if (!sure) return
    try {
      replace(
        await call(
          api.POST('/api/v1/campaigns/{id}/send', { params: { path: { id: campaign.id } } }),
        ),
      )
    } catch (error) {
      showNotice(formProblem(error).message, 'error')
    }
  }

  return (
    <section aria-labelledby="campaigns-heading">
      <h2 id="campaigns-heading">Campaigns</h2>
      {notice}
      {confirmDialog}
      <section class="panel" aria-labelledby="new-campaign-heading">
        <h3 id="new-campaign-heading">New campaign</h3>
        <CampaignForm
          onSaved={(campaign) => {
            showNotice(`Saved the draft “${campaign.subject}”. Send it from the list below.`)
            list.update((items) => [campaign, ...items.filter((item) => item.id !== campaign.id)])
          }}
        />
      </section>
      <h3>All campaigns</h3>
      <ListView
        list={list}
        loading="Loading campaigns…"
        empty="No campaigns yet. Write the first one above."
        more="Show more campaigns"
      >
        {(items) => (
          <ul class="items campaigns" aria-label="Campaigns">
            {items.map((campaign) => (
              <CampaignItem
                key={campaign.id}
                campaign={campaign}
                onSend={() => void send(campaign)}
              />
            ))}
          </ul>
        )}
      </ListView>
    </section>
  )
}

/**
 * Reads each campaign in `ids` again every POLL_MS until it leaves `sending`. One request per
 * campaign at a time: the next waits for the answer before its timer starts.
 */
function usePolling(ids: string[], onCampaign: (campaign: Campaign) => void) {
  const latest = useRef(onCampaign)
  latest.current = onCampaign
  const key = ids.join(',')
  useEffect(() => {
    if (key === '') return
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const poll = async () => {
      for (const id of key.split(',')) {
        try {
          const campaign = await call(
            api.GET('/api/v1/campaigns/{id}', { params: { path: { id } } }),
          )
          if (!stopped) latest.current(campaign)
        } catch {
          // A failed read is tried again on the next round.
        }
      }
      if (!stopped) timer = setTimeout(() => void poll(), POLL_MS)
    }
    timer = setTimeout(() => void poll(), POLL_MS)
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }, [key])
}

function CampaignItem({ campaign, onSend }: { campaign: Campaign; onSend: () => void }) {
  const headingId = `campaign-${campaign.id}`
  const done = campaign.sent + campaign.failed
  return (
    <li aria-labelledby={headingId}>
      <div class="item-head">
        <h4 id={headingId}>{campaign.subject}</h4>
        <span class={`badge status-${campaign.status}`}>{STATUS_LABELS[campaign.status]}</span>
      </div>
      <p class="meta">Written {formatWhen(campaign.created_at)}</p>
      {campaign.status !== 'draft' && (
        <div class="campaign-progress">
          <progress
            max={Math.max(campaign.recipients, 1)}
            value={campaign.status === 'sent' ? Math.max(campaign.recipients, 1) : done}
            aria-label={`Progress of “${campaign.subject}”`}
          />
          {campaign.status === 'sending' && campaign.recipients === 0 ? (
            <p class="counts">Preparing the mails…</p>
          ) : (
            <p class="counts">
              <span>
                Sent <strong>{count.format(campaign.sent)}</strong>
              </span>{' '}
              <span>
                Failed <strong>{count.format(campaign.failed)}</strong>
              </span>{' '}
              <span>
                of <strong>{count.format(campaign.recipients)}</strong> recipients
              </span>
            </p>
          )}
        </div>
      )}
      <details>
        <summary>Text</summary>
        <p class="description">{campaign.text}</p>
      </details>
      {campaign.status === 'draft' && (
        <div class="actions">
          <button type="button" onClick={onSend} aria-label={`Send campaign “${campaign.subject}”`}>
            Send
          </button>
        </div>
      )}
    </li>
  )
}

function CampaignForm(props: { onSaved: (campaign: Campaign) => void }) {
  const [subject, setSubject] = useState('')
  const [text, setText] = useState('')
  const submission = useSubmission()

  const submit = async () => {
    let campaign: Campaign | undefined
    const ok = await submission.run(async () => {
      campaign = await call(
        api.POST('/api/v1/campaigns', {
          params: { header: { 'Idempotency-Key': idempotencyKey() } },
          body: { subject: subject.trim(), text },
        }),
      )
    })
    if (ok && campaign !== undefined) {
      setSubject('')
      setText('')
      props.onSaved(campaign)
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
      {submission.problem !== undefined && <Alert kind="error">{submission.problem.message}</Alert>}
      <Field
        label="Subject"
        name="subject"
        error={submission.fieldError('subject')}
        control={(control) => (
          <input
            {...control}
            required
            maxLength={200}
            value={subject}
            onInput={(event) => setSubject(event.currentTarget.value)}
          />
        )}
      />
      <Field
        label="Text"
        name="text"
        hint="Plain text. Every mail ends with an unsubscribe link."
        error={submission.fieldError('text')}
        control={(control) => (
          <textarea
            {...control}
            required
            rows={8}
            maxLength={100_000}
            value={text}
            onInput={(event) => setText(event.currentTarget.value)}
          />
        )}
      />
      <button type="submit" disabled={submission.busy}>
        {submission.busy ? 'Saving…' : 'Save draft'}
      </button>
    </form>
  )
}
