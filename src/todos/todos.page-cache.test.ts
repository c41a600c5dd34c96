import { describe, expect, it } from 'vitest'
import { onPostgres, skipSuite } from '../../test/database.js'
import { TodoPageCache } from './todos.page-cache.js'

// The cache's own rules, where HTTP cannot reach: on SQLite every query is synchronous, and no
// ordering of requests we could produce (delays in event-loop turns and in promise turns) makes
// a write commit between a page's stamp and its store. What a client sees is tested in
// todos.cache.test.ts.
describe('TodoPageCache', () => {
  if (skipSuite(onPostgres, 'no database, and the cache serves SQLite only')) return
  const page = (body: string) => ({ body, next_cursor: null })
  const text = (cached: { body: string | Buffer } | undefined) => cached?.body.toString()

  function cacheWithVersion() {
    let version: number | undefined = 1
    const cache = new TodoPageCache(() => version, 1024 * 1024)
    return {
      cache,
      bump: () => {
        version = (version ?? 0) + 1
      },
      hide: () => {
        const seen = version
        version = undefined
        return () => {
          version = seen
        }
      },
    }
  }

  it('serves a stored page until a write to its owner', () => {
    const { cache } = cacheWithVersion()
    cache.set('k', 'alice', cache.stamp(), page('[1]'))
    cache.changed('bob')
    expect(text(cache.get('k', 'alice'))).toBe('[1]')
    cache.changed('alice')
    expect(cache.get('k', 'alice')).toBeUndefined()
  })

  it('does not keep a page whose read began before a write that committed meanwhile', () => {
    const { cache } = cacheWithVersion()
    const stamp = cache.stamp()
    cache.changed('alice')
    cache.set('k', 'alice', stamp, page('[stale]'))
    expect(cache.get('k', 'alice')).toBeUndefined()
  })

  it("drops a page spanning owners on any owner's write", () => {
    const { cache } = cacheWithVersion()
    cache.set('all', null, cache.stamp(), page('[1]'))
    cache.changed('carol')
    expect(cache.get('all', null)).toBeUndefined()
  })

  it("drops every page when another connection commits (SQLite's data_version moves)", () => {
    const { cache, bump } = cacheWithVersion()
    cache.set('a', 'alice', cache.stamp(), page('[1]'))
    cache.set('all', null, cache.stamp(), page('[2]'))
    bump()
    expect(cache.get('a', 'alice')).toBeUndefined()
    expect(cache.get('all', null)).toBeUndefined()
  })

  it('serves nothing while other connections cannot be seen (inside a transaction)', () => {
    const { cache, hide } = cacheWithVersion()
    cache.set('k', 'alice', cache.stamp(), page('[1]'))
    const show = hide()
    expect(cache.get('k', 'alice')).toBeUndefined()
    show()
    expect(text(cache.get('k', 'alice'))).toBe('[1]')
  })

  it('stays correct when the record of writers overflows', () => {
    const { cache } = cacheWithVersion()
    const stamp = cache.stamp()
    for (let i = 0; i <= 10_000; i++) cache.changed(`owner ${i}`)
    cache.set('k', 'owner 1', stamp, page('[stale]'))
    expect(cache.get('k', 'owner 1')).toBeUndefined()
    cache.set('k', 'owner 1', cache.stamp(), page('[fresh]'))
    expect(text(cache.get('k', 'owner 1'))).toBe('[fresh]')
  })
})
