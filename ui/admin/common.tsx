import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { Alert, Empty, Field, Loading } from '../lib/components.js'
import type { PagedList } from './paged.js'

/** A paged list's states: loading, failed (with a retry), empty, or its items and "Show more". */
export function ListView<Item>(props: {
  list: PagedList<Item>
  loading: string
  empty: string
  more: string
  children: (items: Item[]) => ComponentChildren
}) {
  const { list } = props
  return (
    <div>
      {list.error !== undefined && (
        <Alert kind="error">
          {list.error}{' '}
          <button
            type="button"
            class="small secondary"
            onClick={() => (list.items === undefined ? list.reload() : void list.loadMore())}
          >
            Try again
          </button>
        </Alert>
      )}
      {list.items === undefined ? (
        list.error === undefined && <Loading label={props.loading} />
      ) : list.items.length === 0 ? (
        <Empty>{props.empty}</Empty>
      ) : (
        props.children(list.items)
      )}
      {list.items !== undefined && list.hasMore && (
        <button
          type="button"
          class="secondary"
          disabled={list.loadingMore}
          onClick={() => void list.loadMore()}
        >
          {list.loadingMore ? 'Loading…' : props.more}
        </button>
      )}
    </div>
  )
}

/**
 * A search box that searches when submitted (Enter or its button), not on every key: each
 * search is one request, and a screen reader is not interrupted while typing.
 */
export function SearchForm(props: {
  label: string
  hint?: string
  onSearch: (text: string) => void
}) {
  const [text, setText] = useState('')
  return (
    <search class="search">
      <form
        onSubmit={(event) => {
          event.preventDefault()
          props.onSearch(text.trim())
        }}
      >
        <Field
          label={props.label}
          name="q"
          hint={props.hint}
          control={(control) => (
            <input
              {...control}
              type="search"
              maxLength={100}
              value={text}
              onInput={(event) => setText(event.currentTarget.value)}
            />
          )}
        />
        <button type="submit" class="secondary">
          Search
        </button>
      </form>
    </search>
  )
}
