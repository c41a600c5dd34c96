import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { DEPLOYED_CONFIG } from './nginx.js'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

const withoutComments = (text: string) =>
  text
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trimEnd())
    .filter((line) => line.trim() !== '')
    .join('\n')

describe('docs/DEPLOY.md', () => {
  it('shows deploy/nginx.conf, the file the multi-instance tests run, without its comments', () => {
    const doc = readFileSync(path.resolve(HERE, '../../docs/DEPLOY.md'), 'utf8')
    const shown = /```nginx\n([\s\S]*?)```/.exec(doc)?.[1]
    expect(shown).toBeDefined()
    expect(withoutComments(shown ?? '')).toBe(
      withoutComments(readFileSync(DEPLOYED_CONFIG, 'utf8')),
    )
  })
})
