// The check part of `npm run bench -- scale`: what the SQLite cross-process check
// (src/auth/auth-changes.ts) costs a request, timed in this process against the built module on
// the seeded database.
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import SQLite from 'better-sqlite3'

const here = path.dirname(fileURLToPath(import.meta.url))
const dist = path.join(path.dirname(here), 'dist')

export async function run(context) {
  const check = await crossProcessCheck(context)
  context.log(
    `bench scale: cross-process check: ${check.unchangedUs.toFixed(2)} µs when nobody else wrote, ${check.otherWriteUs.toFixed(2)} µs after another connection's unrelated commit, ${check.authChangeUs.toFixed(2)} µs after a demotion`,
  )
  const markdown = [
    '### The SQLite cross-process check, per request',
    '',
    '`catchUp()` as the authenticator runs it before judging a credential, averaged over many calls:',
    '',
    '| when | cost |',
    '|---|---|',
    `| nobody else committed (PRAGMA data_version only) | ${check.unchangedUs.toFixed(2)} µs |`,
    `| another connection committed something else (one journal read, nothing new) | ${check.otherWriteUs.toFixed(2)} µs |`,
    `| another connection demoted a user (journal read, one entry dropped) | ${check.authChangeUs.toFixed(2)} µs |`,
  ].join('\n')
  return { markdown, data: check }
}

/**
 * `catchUp()` as every request runs it, on the seeded database: when no other connection
 * committed (the steady state), after an unrelated commit by another connection (another
 * worker's write: one journal read that finds nothing), and after a demotion (one journal read,
 * one cache entry dropped).
 */
async function crossProcessCheck(context) {
  const { openDatabase } = await import(pathToFileURL(path.join(dist, 'core', 'db.js')).href)
  const { createAuthChanges } = await import(
    pathToFileURL(path.join(dist, 'auth', 'auth-changes.js')).href
  )
  const database = openDatabase({ kind: 'sqlite', path: context.dbFile, synchronous: 'NORMAL' })
  const forgotten = { users: 0 }
  const changes = createAuthChanges({
    observer: database.observer,
    identities: { forget: () => forgotten.users++, forgetAll: () => {} },
    apiKeys: { forgetUser: () => {}, forgetAll: () => {} },
    revocations: { revokedElsewhere: () => {}, load: async () => {} },
  })
  const other = new SQLite(context.dbFile)
  const user = other.prepare("select id from users where username = 'bench'").pluck().get()
  // A column no cached principal holds: a commit, but no journal entry.
  const touchUser = other.prepare('update users set updated_at = ? where id = ?')
  const demote = other.prepare('update users set role = ? where id = ?')

  const timeEach = async (count, between) => {
    let total = 0n
    for (let i = 0; i < count; i++) {
      between?.(i)
      const started = process.hrtime.bigint()
      await changes.catchUp()
      total += process.hrtime.bigint() - started
    }
    return Number(total) / count
  }
  await timeEach(10_000)
  const unchangedUs = (await timeEach(200_000)) / 1000
  const otherWriteUs = (await timeEach(2_000, (i) => touchUser.run(String(i), user))) / 1000
  const authChangeUs =
    (await timeEach(2_000, (i) => demote.run(i % 2 === 0 ? 'admin' : 'user', user))) / 1000
  demote.run('user', user)
  other.close()
  await database.close()
  if (forgotten.users < 2_000) throw new Error('the check missed demotions')
  return { unchangedUs, otherWriteUs, authChangeUs }
}
