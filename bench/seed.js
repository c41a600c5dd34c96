// Builds the benchmark database: Gatehouse's own migrations (from dist/), the bench users, and,
// when the todos table exists, 1,000,000 todos of which 10,000 belong to the bench user.
import SQLite from 'better-sqlite3'
import { uuidv7 } from 'uuidv7'
import { hashPassword } from '../dist/auth/passwords.js'
import { migrateToLatest, openDatabase } from '../dist/core/db.js'
import { migrations } from '../dist/migrations/index.js'

export const BENCH_USER = 'bench'
export const BENCH_PASSWORD = 'correct-horse-battery-bench'
export const ADMIN_USER = 'benchadmin'
export const ADMIN_PASSWORD = 'admin-password-for-bench'

const OTHER_OWNERS = 99
const BATCH = 20_000

/**
 * A value for one column of a generated todo, chosen by the column's name and declared type, so
 * the seed follows whatever columns the todos migration defines.
 */
function columnFiller(column, ownerColumn) {
  const name = column.name
  const type = String(column.type).toLowerCase()
  if (name === 'id') return (ctx) => ctx.id
  if (name === ownerColumn) return (ctx) => ctx.owner
  if (name === 'title') return (ctx) => `Todo number ${ctx.n}`
  if (name === 'description') return (ctx) => (ctx.n % 3 === 0 ? '' : `Details of todo ${ctx.n}`)
  // The todos branch keys the due order as (due_null, due_key, id): a null due sorts last and
  // is keyed by the id.
  if (name === 'due') return (ctx) => (ctx.n % 7 === 3 ? null : ctx.dueIso)
  if (name === 'due_null') return (ctx) => (ctx.n % 7 === 3 ? 1 : 0)
  if (name === 'due_key') return (ctx) => (ctx.n % 7 === 3 ? ctx.id : ctx.dueIso)
  if (name.startsWith('due_')) return (ctx) => (ctx.n % 7 === 3 ? null : ctx.dueIso)
  if (name.endsWith('_at')) return (ctx) => ctx.createdIso
  if (name === 'done' || name === 'public' || name.startsWith('is_')) return (ctx) => ctx.n % 2
  if (type.includes('int') || type.includes('real') || type.includes('num'))
    return (ctx) => ctx.n % 1000
  if (column.notnull === 1 && column.dflt_value === null) return (ctx) => `v${ctx.n}`
  return () => null
}

export async function seedDatabase(file, { todos = 1_000_000, benchTodos = 10_000 } = {}) {
  const started = performance.now()
  const database = openDatabase({ kind: 'sqlite', path: file, synchronous: 'NORMAL' })
  await migrateToLatest(database, migrations)
  await database.close()

  const db = new SQLite(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = OFF')
  const now = new Date().toISOString()
  const insertUser = db.prepare(
    'insert into users (id, username, name, password_hash, role, disabled, created_at, updated_at, password_changed_at) values (?, ?, ?, ?, ?, 0, ?, ?, ?)',
  )
  const benchHash = await hashPassword(BENCH_PASSWORD)
  const adminHash = await hashPassword(ADMIN_PASSWORD)
  const benchId = uuidv7()
  insertUser.run(benchId, BENCH_USER, 'Bench User', benchHash, 'user', now, now, now)
  insertUser.run(uuidv7(), ADMIN_USER, 'Bench Admin', adminHash, 'admin', now, now, now)
  const owners = [benchId]
  db.transaction(() => {
    for (let i = 0; i < OTHER_OWNERS; i++) {
      const id = uuidv7()
      owners.push(id)
      insertUser.run(id, `filler${i}`, `Filler ${i}`, benchHash, 'user', now, now, now)
    }
  })()

  const columns = db.prepare('pragma table_info(todos)').all()
  let seeded = 0
  if (columns.length > 0 && todos > 0) {
    const ownerColumn = columns.some((c) => c.name === 'owner_id') ? 'owner_id' : 'user_id'
    const fillers = columns.map((c) => columnFiller(c, ownerColumn))
    const insert = db.prepare(
      `insert into todos (${columns.map((c) => `"${c.name}"`).join(', ')}) values (${columns.map(() => '?').join(', ')})`,
    )
    const base = Date.parse('2026-01-01T00:00:00.000Z')
    // Every 100th row is the bench user's: 10,000 of 1,000,000, spread through the table.
    const stride = Math.max(1, Math.floor(todos / benchTodos))
    const insertBatch = db.transaction((from, to) => {
      const values = new Array(columns.length)
      for (let n = from; n < to; n++) {
        const ctx = {
          n,
          id: uuidv7(),
          owner: n % stride === 0 ? benchId : owners[1 + (n % OTHER_OWNERS)],
          createdIso: new Date(base + n * 1000).toISOString(),
          dueIso: new Date(base + ((n * 7919) % 31_536_000) * 1000).toISOString(),
        }
        for (let i = 0; i < fillers.length; i++) values[i] = fillers[i](ctx)
        insert.run(values)
      }
    })
    // Bulk load: the migration's indexes are dropped and built again afterwards, sorting once
    // instead of updating every B-tree on every insert.
    const indexes = db
      .prepare(
        "select name, sql from sqlite_master where type = 'index' and tbl_name = 'todos' and sql is not null",
      )
      .all()
    db.pragma('cache_size = -262144')
    for (const index of indexes) db.exec(`drop index "${index.name}"`)
    for (let from = 0; from < todos; from += BATCH) insertBatch(from, Math.min(todos, from + BATCH))
    for (const index of indexes) db.exec(index.sql)
    seeded = todos
    db.pragma('optimize')
  }
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  return { benchId, todos: seeded, ms: performance.now() - started }
}
