import {
  chmodSync,
  closeSync,
  existsSync,
  openSync,
  realpathSync,
  renameSync,
  rmSync,
} from 'node:fs'
import path from 'node:path'
import SQLite from 'better-sqlite3'
import type { DatabaseConfig } from '../core/config.js'
import { migrations } from '../migrations/index.js'
import { CliError, EXIT, type Progress, progress } from './terminal.js'

type SqliteConfig = Extract<DatabaseConfig, { kind: 'sqlite' }>

function sqliteOnly(database: DatabaseConfig, postgresTool: string): SqliteConfig {
  if (database.kind !== 'sqlite') {
    throw new CliError(
      `the database is PostgreSQL: use ${postgresTool} (see docs/cli.md, "Backups")`,
      EXIT.usage,
    )
  }
  if (database.path === ':memory:') {
    throw new CliError('the database is in memory: there is no file to copy', EXIT.usage)
  }
  return database
}

/** A new file only its owner may read (it holds password hashes and tokens), truncated. */
function ownerOnlyFile(file: string): void {
  closeSync(openSync(file, 'w', 0o600))
  chmodSync(file, 0o600)
}

/**
 * Copies `source` to `file` with SQLite's online backup: a consistent copy of one moment while
 * other connections (a running server) go on writing. The copy is written beside `file` and
 * renamed into place, so `file` is never a half-written database.
 *
 * A write by another connection restarts the backup at its next step; under a steady stream of
 * writes, steps small enough for a lively bar might never finish. So after the first restart
 * the rest is copied in one step (in WAL mode that step only reads: writers are not held up).
 */
async function copyDatabase(source: SQLite.Database, file: string, bar: Progress): Promise<void> {
  const partial = `${file}.partial`
  ownerOnlyFile(partial)
  let remainingBefore = Number.POSITIVE_INFINITY
  let restarted = false
  try {
    const { totalPages } = await source.backup(partial, {
      progress({ totalPages, remainingPages }) {
        if (remainingPages > remainingBefore) restarted = true
        remainingBefore = remainingPages
        bar.update(totalPages - remainingPages, totalPages)
        return restarted ? totalPages : Math.max(100, Math.ceil(totalPages / 50))
      },
    })
    // The last step reports nothing: the bar ends full here.
    bar.update(totalPages, totalPages)
  } catch (error) {
    rmSync(partial, { force: true })
    throw error
  }
  renameSync(partial, file)
  bar.stop()
}

function pagesOf(database: SQLite.Database): number {
  return Number(database.pragma('page_count', { simple: true }))
}

/** `gatehouse backup FILE`: a consistent copy of the SQLite database, the server running or not. */
export async function backupDatabase(database: DatabaseConfig, file: string): Promise<void> {
  const { path: live } = sqliteOnly(database, 'pg_dump')
  if (!existsSync(live)) throw new CliError(`there is no database at ${live}`)
  if (!existsSync(path.dirname(path.resolve(file)))) {
    throw new CliError(`the directory of ${file} does not exist`)
  }
  if (existsSync(file) && realpathSync(file) === realpathSync(live)) {
    throw new CliError('the backup file is the database itself', EXIT.usage)
  }
  const source = new SQLite(live, { fileMustExist: true, timeout: 10_000 })
  try {
    await copyDatabase(source, file, progress('backup', 'pages', pagesOf(source)))
  } finally {
    source.close()
  }
}

/**
 * Refuses a file that is not a whole Gatehouse database: not SQLite, damaged (integrity_check),
 * without Gatehouse's migrations table, or from a newer Gatehouse (a migration this one lacks).
 */
export function checkGatehouseDatabase(file: string): SQLite.Database {
  if (!existsSync(file)) throw new CliError(`there is no file ${file}`)
  const refuse = (why: string) => new CliError(`${file} is not a Gatehouse database: ${why}`)
  const candidate = new SQLite(file, { readonly: true, fileMustExist: true })
  try {
    const integrity = candidate.pragma('integrity_check', { simple: true })
    if (integrity !== 'ok') throw refuse(`integrity_check says ${String(integrity)}`)
    const table = candidate
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kysely_migration'")
      .get()
    if (table === undefined) throw refuse('it has no migrations table')
    const names = candidate.prepare('SELECT name FROM kysely_migration').pluck().all() as string[]
    if (!names.includes('001_core')) throw refuse('its migrations table is not Gatehouse’s')
    const unknown = names.find((name) => !(name in migrations))
    if (unknown !== undefined) {
      throw refuse(`it has migration ${unknown}, from a newer version of Gatehouse`)
    }
    return candidate
  } catch (error) {
    candidate.close()
    if (error instanceof CliError) throw error
    // SQLITE_NOTADB and the like: not an SQLite file at all.
    throw refuse((error as Error).message)
  }
}

/**
 * Holds `live` for this process alone, or says a server uses it. Every connection to a WAL
 * database (every server process, its mail thread) keeps a shared lock in the -shm file while
 * it is open, even idle; leaving WAL mode needs that no other connection has it open, so the
 * switch fails at once (SQLITE_BUSY) while any server has it. Then an exclusive lock keeps a
 * server that starts now waiting until the restored file is in place.
 */
function holdExclusively(live: string): SQLite.Database | undefined {
  if (!existsSync(live)) return undefined
  const guard = new SQLite(live, { fileMustExist: true, timeout: 0 })
  const inUse = () =>
    new CliError(`a server is using ${live}: stop it, then restore (docs/cli.md)`, EXIT.failed)
  try {
    const mode = guard.pragma('journal_mode = DELETE', { simple: true })
    if (mode !== 'delete') throw inUse()
    guard.pragma('locking_mode = EXCLUSIVE')
    guard.exec('BEGIN EXCLUSIVE')
    return guard
  } catch (error) {
    guard.close()
    if (error instanceof CliError) throw error
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') throw inUse()
    throw error
  }
}

/**
 * `gatehouse restore FILE`: the database becomes a copy of FILE, once FILE is checked to be a
 * Gatehouse database and no server uses the database. The server migrates an older backup when
 * it starts.
 */
export async function restoreDatabase(database: DatabaseConfig, file: string): Promise<void> {
  const { path: live } = sqliteOnly(database, 'pg_restore (or psql for a plain dump)')
  if (!existsSync(file)) throw new CliError(`there is no file ${file}`)
  if (existsSync(live) && realpathSync(file) === realpathSync(live)) {
    throw new CliError('the backup file is the database itself', EXIT.usage)
  }
  const backup = checkGatehouseDatabase(file)
  try {
    const guard = holdExclusively(live)
    try {
      await copyDatabase(backup, live, progress('restore', 'pages', pagesOf(backup)))
      // What belonged to the replaced file; a journal or WAL left beside the new one would be
      // applied to it.
      for (const suffix of ['-wal', '-shm', '-journal']) rmSync(live + suffix, { force: true })
    } finally {
      guard?.close()
    }
  } finally {
    backup.close()
  }
}
