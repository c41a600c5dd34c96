import type { SqliteObserver } from '../core/db.js'
import type { ApiKeysService } from './api-keys.service.js'
import type { IdentityCache } from './identity-cache.js'
import type { Revocations } from './revocations.js'

interface ChangeRow {
  seq: number
  kind: string
  subject: string
}

// The new changes, and always the newest one: it tells a journal that went backwards (a file
// restored from a backup) from one with nothing new.
const NEW_CHANGES = `select seq, kind, subject from auth_changes
  where seq > ? or seq = (select max(seq) from auth_changes) order by seq`

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
 * access token. Create it before the caches are filled or revocations loaded, so nothing
 * committed in between is missed.
 */
export function createAuthChanges(deps: {
  observer: SqliteObserver
  identities: Pick<IdentityCache, 'forget' | 'forgetAll'>
  apiKeys: Pick<ApiKeysService, 'forgetUser' | 'forgetAll'>
  revocations: Pick<Revocations, 'revokedElsewhere' | 'load'>
}): AuthChanges {
  const { observer, identities, apiKeys, revocations } = deps
  let version = observer.dataVersion()
  let seen = observer.all<ChangeRow>(NEW_CHANGES, 0).at(-1)?.seq ?? 0
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
    }
    revocations.revokedElsewhere({ jtis, sids })
  }

  /** The journal skipped changes (pruned while this process slept) or was replaced. */
  function startOver(): Promise<void> {
    identities.forgetAll()
    apiKeys.forgetAll()
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
      const latest = rows.at(-1)?.seq ?? 0
      if (latest === seen) return
      const fresh = rows.filter((row) => row.seq > seen)
      const previous = seen
      seen = latest
      if (latest < previous || fresh[0]?.seq !== previous + 1) return startOver()
      apply(fresh)
    },
  }
}
