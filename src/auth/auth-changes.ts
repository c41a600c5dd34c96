import type { SqliteObserver } from '../core/db.js'
import type { ApiKeysService } from './api-keys.service.js'
import type { IdentityCache } from './identity-cache.js'
import type { Revocations } from './revocations.js'

interface ChangeRow {
  seq: number
  kind: string
  subject: string
}

// Both are searches of the rowid b-tree, never a scan of the journal.
const NEW_CHANGES = 'select seq, kind, subject from auth_changes where seq > ? order by seq'
const LATEST = 'select max(seq) as seq from auth_changes'

export interface AuthChanges {
  /**
   * Brings this process's caches up to date with what every other process committed: call
   * before trusting them. Costs one in-memory read (PRAGMA data_version) while nobody else
   * wrote; one indexed read of the journal when someone did.
   */
  catchUp(): Promise<void>
}

/** Nothing to catch up with: one process, or a database every instance reads each time. */
export const NO_OTHER_WRITERS: AuthChanges = { catchUp: async () => {} }

/**
 * What other processes on the same SQLite file changed (API.md §12), read from the journal the
 * triggers of migration 011 fill. SQLite bumps `data_version` on the observer connection when any
 * other connection commits; only then is the journal read, and each change drops exactly what it
 * makes stale: a user's principal and Basic credentials, their API keys, a revoked session or
 * access token; a signing key added (migration 014) makes the key ring read the key set before it
 * next signs or publishes. Create it before the caches are filled or revocations loaded, so
 * nothing committed in between is missed.
 */
export function createAuthChanges(deps: {
  observer: SqliteObserver
  identities: Pick<IdentityCache, 'forget' | 'forgetAll'>
  apiKeys: Pick<ApiKeysService, 'forgetUser' | 'forgetAll'>
  revocations: Pick<Revocations, 'revokedElsewhere' | 'load'>
  /** Another process added a signing key (`gatehouse keys rotate`), or one may have been missed. */
  signingKeyAdded: () => void
}): AuthChanges {
  const { observer, identities, apiKeys, revocations, signingKeyAdded } = deps
  let version = observer.dataVersion()
  const latest = () => observer.all<{ seq: number | null }>(LATEST)[0]?.seq ?? 0
  let seen = latest()
  // While the revocations reload after a gap, nobody may go on without them.
  let reloading: Promise<void> | undefined

  function apply(rows: readonly ChangeRow[]): void {
    const jtis: string[] = []
    const sids: string[] = []
    for (const { kind, subject } of rows) {
      if (kind === 'user') {
        identities.forget(subject)
        apiKeys.forgetUser(subject)
      } else if (kind === 'api_keys') apiKeys.forgetUser(subject)
      else if (kind === 'session') sids.push(subject)
      else if (kind === 'access_token') jtis.push(subject)
      else if (kind === 'signing_key') signingKeyAdded()
    }
    revocations.revokedElsewhere({ jtis, sids })
  }

  /** The journal skipped changes (pruned while this process slept) or was replaced. */
  function startOver(): Promise<void> {
    identities.forgetAll()
    apiKeys.forgetAll()
    signingKeyAdded()
    reloading = revocations.load().finally(() => {
      reloading = undefined
    })
    return reloading
  }

  return {
    async catchUp() {
      if (reloading !== undefined) await reloading
      const now = observer.dataVersion()
      if (now === version) return
      version = now
      const rows = observer.all<ChangeRow>(NEW_CHANGES, seen)
      const previous = seen
      if (rows.length === 0) {
        // Nothing new, unless the journal went backwards (a file restored from a backup).
        seen = latest()
        return seen < previous ? startOver() : undefined
      }
      seen = rows[rows.length - 1]?.seq ?? previous
      if (rows[0]?.seq !== previous + 1) return startOver()
      apply(rows)
    },
  }
}
