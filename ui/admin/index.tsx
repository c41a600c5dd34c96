import type { JSX } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import type { PageProps, ShellUser } from '../lib/mount.js'
import { AuditSection } from './audit.js'
import { CampaignsSection } from './campaigns.js'
import { SubscribersSection } from './subscribers.js'
import { UsersSection } from './users.js'

const SECTIONS = [
  { id: 'users', label: 'Users' },
  { id: 'subscribers', label: 'Subscribers' },
  { id: 'campaigns', label: 'Campaigns' },
  { id: 'audit', label: 'Audit log' },
] as const
type SectionId = (typeof SECTIONS)[number]['id']

const isSection = (value: string): value is SectionId => SECTIONS.some((s) => s.id === value)

/** The section the address names (`/admin#campaigns`), so a reload or a link keeps it. */
function sectionOfLocation(): SectionId {
  const hash = location.hash.slice(1)
  return isSection(hash) ? hash : 'users'
}

/** /admin: users, subscribers, campaigns and the audit log, as tabs over the public API. */
export function AdminConsole({ user }: PageProps) {
  return user === undefined ? null : <Console user={user} />
}

function Console({ user }: { user: ShellUser }) {
  const [section, setSection] = useState<SectionId>(sectionOfLocation)
  const tabs = useRef<Record<string, HTMLButtonElement | null>>({})

  useEffect(() => {
    const onHashChange = () => setSection(sectionOfLocation())
    addEventListener('hashchange', onHashChange)
    return () => removeEventListener('hashchange', onHashChange)
  }, [])

  const select = (id: SectionId, focus: boolean) => {
    setSection(id)
    // replaceState: switching tabs is not a page the Back button should step through.
    history.replaceState(null, '', `#${id}`)
    if (focus) tabs.current[id]?.focus()
  }

  // The tabs pattern of the ARIA practices: one tab in the Tab order, arrows move between them.
  const onKeyDown = (event: JSX.TargetedKeyboardEvent<HTMLDivElement>) => {
    const at = SECTIONS.findIndex((s) => s.id === section)
    const to =
      event.key === 'ArrowRight'
        ? (at + 1) % SECTIONS.length
        : event.key === 'ArrowLeft'
          ? (at - 1 + SECTIONS.length) % SECTIONS.length
          : event.key === 'Home'
            ? 0
            : event.key === 'End'
              ? SECTIONS.length - 1
              : undefined
    const target = to === undefined ? undefined : SECTIONS[to]
    if (target === undefined) return
    event.preventDefault()
    select(target.id, true)
  }

  return (
    <div class="admin">
      <div role="tablist" aria-label="Admin sections" class="tabs" onKeyDown={onKeyDown}>
        {SECTIONS.map((s) => (
          <button
            key={s.id}
            ref={(element) => {
              tabs.current[s.id] = element
            }}
            type="button"
            role="tab"
            id={`tab-${s.id}`}
            // Only the selected tab's panel is rendered: the others control nothing yet.
            aria-controls={section === s.id ? `panel-${s.id}` : undefined}
            aria-selected={section === s.id}
            tabIndex={section === s.id ? 0 : -1}
            onClick={() => select(s.id, false)}
          >
            {s.label}
          </button>
        ))}
      </div>
      <div
        role="tabpanel"
        id={`panel-${section}`}
        aria-labelledby={`tab-${section}`}
        class="tab-panel"
      >
        {section === 'users' && <UsersSection me={user} />}
        {section === 'subscribers' && <SubscribersSection />}
        {section === 'campaigns' && <CampaignsSection />}
        {section === 'audit' && <AuditSection />}
      </div>
    </div>
  )
}
