import { useCallback, useEffect, useRef, useState } from 'preact/hooks'

export interface Page<Item> {
  items: Item[]
  next_cursor: string | null
}

export interface PagedList<Item> {
  /** undefined while the first page loads. */
  items: Item[] | undefined
  error: string | undefined
  hasMore: boolean
  loadingMore: boolean
  loadMore(): Promise<void>
  reload(): void
  /** Replaces or drops items after a write, without a round trip. */
  update(change: (items: Item[]) => Item[]): void
}

/**
 * One of the console's paged lists: the first page for `query`, then "Show more" with the
 * cursor the server issued. `key` identifies the query: a new key starts over, and answers to
 * an older one that arrive late are dropped.
 */
export function usePagedList<Item extends { id: string }>(
  key: string,
  fetchPage: (cursor: string | undefined) => Promise<Page<Item>>,
  what: string,
): PagedList<Item> {
  const [items, setItems] = useState<Item[] | undefined>(undefined)
  const [next, setNext] = useState<string | null>(null)
  const [error, setError] = useState<string | undefined>(undefined)
  const [loadingMore, setLoadingMore] = useState(false)
  const [reloads, setReloads] = useState(0)
  const generation = useRef(0)
  // The latest fetchPage, without making every render a new query.
  const fetcher = useRef(fetchPage)
  fetcher.current = fetchPage

  // key and reloads say when to load again (fetchPage is read through its ref).
  useEffect(() => {
    generation.current += 1
    const mine = generation.current
    setItems(undefined)
    setError(undefined)
    fetcher.current(undefined).then(
      (page) => {
        if (mine !== generation.current) return
        setItems(page.items)
        setNext(page.next_cursor)
      },
      () => {
        if (mine === generation.current) setError(`The ${what} could not be loaded.`)
      },
    )
  }, [key, reloads, what])

  const loadMore = useCallback(async () => {
    if (next === null) return
    const mine = generation.current
    setLoadingMore(true)
    setError(undefined)
    try {
      const page = await fetcher.current(next)
      if (mine !== generation.current) return
      // An item added on this page since (a new draft shown first) is not shown twice.
      setItems((old) => {
        const shown = new Set((old ?? []).map((item) => item.id))
        return [...(old ?? []), ...page.items.filter((item) => !shown.has(item.id))]
      })
      setNext(page.next_cursor)
    } catch {
      if (mine === generation.current) setError(`More ${what} could not be loaded.`)
    } finally {
      setLoadingMore(false)
    }
  }, [next, what])

  return {
    items,
    error,
    hasMore: next !== null,
    loadingMore,
    loadMore,
    reload: () => setReloads((n) => n + 1),
    update: (change) => setItems((old) => (old === undefined ? old : change(old))),
  }
}
