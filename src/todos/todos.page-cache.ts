import { LRUCache } from 'lru-cache'
import type { JsonPage } from '../core/pagination.js'

interface CachedPage {
  /** The clock when the page's query was about to run. */
  stamp: number
  /** The one owner whose todos the page lists, or null when it spans owners. */
  owner: string | null
  /** The page with its body as UTF-8 bytes: sent as is, with no encoding per request. */
  page: JsonPage
}

/**
 * Past this many owners with a recorded write, every page is dropped and the record starts
 * again, so the record stays small however many users write.
 */
const MAX_TRACKED_OWNERS = 10_000

/**
 * List pages kept in memory, so reading the same page again (a client polling its list, the
 * web UI coming back to it) costs no query: on SQLite the query and the JSON it writes are
 * most of a list request's cost.
 *
 * A page is never staler than the last acknowledged write. That rests on a clock, not on
 * deleting pages when a write happens, because a read that started before the write could
 * store its page after the write had deleted the old one:
 * - every page records the clock just before its query runs (`stamp`);
 * - every committed write advances the clock and records the new time against the todo's
 *   owner and against the todos of all owners (`changed`), before the write is answered;
 * - a page is served only if no write that it could have missed came after its stamp: one
 *   owner's page checks that owner's last write, a page spanning owners checks the last
 *   write of any.
 *
 * Writes by other connections to the SQLite file (a second process, a command-line tool,
 * this process's outbox thread) are seen through `PRAGMA data_version`, which changes when
 * any other connection commits. It is read on every lookup, and any change drops every page.
 * PostgreSQL has no such cheap signal for other instances' writes, so it runs without this
 * cache.
 */
export class TodoPageCache {
  private clock = 0
  /** Pages stamped before this were read before a change this cache could not attribute. */
  private floor = 0
  private lastWriteToAny = 0
  private readonly lastWriteByOwner = new Map<string, number>()
  private readonly pages: LRUCache<string, CachedPage>
  private dataVersion: number | undefined

  /**
   * @param readDataVersion SQLite's `data_version` on the connection that runs the queries, or
   *   undefined when it cannot tell (inside a transaction)
   * @param maxBytes about how much memory the pages may take (their JSON text)
   */
  constructor(
    private readonly readDataVersion: () => number | undefined,
    maxBytes: number,
  ) {
    this.dataVersion = readDataVersion()
    this.pages = new LRUCache<string, CachedPage>({
      maxSize: maxBytes,
      sizeCalculation: (entry, key) => entry.page.body.length + key.length + 100,
    })
  }

  /** The cached page, if no write since it was read could have changed it. */
  get(key: string, owner: string | null): JsonPage | undefined {
    if (!this.noticeOtherConnections()) return undefined
    const entry = this.pages.get(key)
    if (entry === undefined) return undefined
    if (!this.isCurrent(entry.stamp, owner)) {
      this.pages.delete(key)
      return undefined
    }
    return entry.page
  }

  /** The time to stamp a page with: take it after a `get` miss, before the page's query. */
  stamp(): number {
    return this.clock
  }

  set(key: string, owner: string | null, stamp: number, page: JsonPage): void {
    // A write committed while the query ran: `get` would refuse the page, so do not keep it.
    if (!this.isCurrent(stamp, owner)) return
    const bytes = { body: Buffer.from(page.body), next_cursor: page.next_cursor }
    this.pages.set(key, { stamp, owner, page: bytes })
  }

  /** Call after a write to `owner`'s todos commits, before it is acknowledged. */
  changed(owner: string): void {
    const now = ++this.clock
    this.lastWriteToAny = now
    this.lastWriteByOwner.set(owner, now)
    if (this.lastWriteByOwner.size > MAX_TRACKED_OWNERS) this.dropAll()
  }

  private isCurrent(stamp: number, owner: string | null): boolean {
    if (stamp < this.floor) return false
    const lastWrite =
      owner === null ? this.lastWriteToAny : (this.lastWriteByOwner.get(owner) ?? this.floor)
    return stamp >= lastWrite
  }

  /** False when other connections' commits cannot be seen now: no page may be served. */
  private noticeOtherConnections(): boolean {
    const version = this.readDataVersion()
    if (version === undefined) return false
    if (version !== this.dataVersion) {
      this.dataVersion = version
      this.dropAll()
    }
    return true
  }

  private dropAll(): void {
    this.floor = ++this.clock
    this.lastWriteToAny = this.floor
    this.lastWriteByOwner.clear()
    this.pages.clear()
  }
}
