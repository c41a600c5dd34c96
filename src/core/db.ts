import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import SQLite from 'better-sqlite3'
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  PostgresDialect,
  type SelectQueryBuilder,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  sql,
  type TransactionSettings,
} from 'kysely'
import type PgModule from 'pg'
import type { DatabaseConfig } from './config.js'

export type DialectName = 'sqlite' | 'postgres'

export interface Db<DB> {
  readonly kysely: Kysely<DB>
  readonly dialect: DialectName
  /**
   * SQLite only: a number that changes whenever another connection to the file commits (another
   * process, the outbox thread), and never for this connection's own commits. Cheap enough to
   * read on every request. Undefined while this connection is inside a transaction, whose
   * snapshot hides other connections' commits.
   */
  readonly dataVersion?: () => number | undefined
  /** SQLite on a file only: see SqliteObserver. */
  readonly observer?: SqliteObserver
  /** Cheap liveness query for /readyz. */
  ping(): Promise<void>
  close(): Promise<void>
}

/**
 * A second, read-only connection to a SQLite file that never holds a transaction, so it can
 * tell at any moment, synchronously, what other connections have committed: `dataVersion`
 * changes whenever any other connection (this process's own included) commits. Reads through
 * it skip Kysely's connection mutex; keep them to small indexed lookups.
 */
export interface SqliteObserver {
  dataVersion(): number
  /** Every row `text` returns for `params`; the statement is prepared once. */
  all<Row>(text: string, ...params: readonly unknown[]): Row[]
}

function openObserver(file: string): { observer: SqliteObserver; close(): void } {
  const connection = new SQLite(file, { readonly: true, fileMustExist: true, timeout: 10_000 })
  // Only a few small pages are ever read through it.
  connection.pragma('cache_size = -256')
  const dataVersion = connection.prepare('PRAGMA data_version').pluck()
  const statements = new Map<string, SQLite.Statement>()
  return {
    observer: {
      dataVersion: () => dataVersion.get() as number,
      all<Row>(text: string, ...params: readonly unknown[]): Row[] {
        let statement = statements.get(text)
        if (statement === undefined) {
          statement = connection.prepare(text)
          statements.set(text, statement)
        }
        return statement.all(...params) as Row[]
      },
    },
    close: () => connection.close(),
  }
}

/**
 * The database holds password hashes and tokens: only the server's account may read it. SQLite
 * gives the -wal, -shm and -journal files it (re)creates the database file's mode, umask aside,
 * so the database file decides: created here 0600 (a umask can only take bits away), and
 * tightened with any sidecars an older version or a crash left readable by others. A file
 * another account owns (EPERM) is the operator's arrangement and stays as it is.
 */
function restrictToOwner(file: string): void {
  closeSync(openSync(file, 'a', 0o600))
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    try {
      chmodSync(file + suffix, 0o600)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'EPERM') throw error
    }
  }
}

function openSqlite(file: string, synchronous: 'NORMAL' | 'FULL'): SQLite.Database {
  if (file !== ':memory:') {
    // A directory made here is the owner's only. One that exists keeps its mode: it may be
    // shared (the working directory, /tmp, /var/lib), and the files in it are protected anyway.
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 })
    restrictToOwner(file)
  }
  // Wait for another process's write lock instead of failing at once (two instances, migrations).
  const database = new SQLite(file, { timeout: 10_000 })
  if (file !== ':memory:') database.pragma('journal_mode = WAL')
  // NORMAL in WAL mode keeps every committed transaction across a process crash; FULL also
  // across power loss, at several times the commit cost. See README "Durability".
  database.pragma(`synchronous = ${synchronous}`)
  database.pragma('foreign_keys = ON')
  database.pragma('busy_timeout = 10000')
  // 4 MB of page cache instead of better-sqlite3's 16 MB: the file's pages stay in the OS
  // page cache anyway, and the 12 MB counted against the server's RSS (BENCHMARKS.md "Campaign").
  database.pragma('cache_size = -4000')
  return database
}

const STATEMENT_CACHE_SIZE = 500

/**
 * Kysely prepares every query anew, which costs about a third of a small indexed read here.
 * A better-sqlite3 statement can be run again with new parameters, and Kysely's connection
 * mutex runs one query at a time, so a statement is never reused while busy.
 */
function withStatementCache(database: SQLite.Database): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>()
  return {
    close: () => database.close(),
    prepare(text: string) {
      let statement = statements.get(text)
      if (statement === undefined) {
        statement = database.prepare(text)
        if (statements.size >= STATEMENT_CACHE_SIZE) {
          const oldest = statements.keys().next().value
          if (oldest !== undefined) statements.delete(oldest)
        }
        statements.set(text, statement)
      }
      return statement
    },
  }
}

/**
 * Transactions start as writers (BEGIN IMMEDIATE), so they wait out busy_timeout for the write
 * lock. Kysely sends a plain, deferred BEGIN: a transaction that reads, then writes after another
 * connection (the outbox thread, another process) committed, fails at once with
 * SQLITE_BUSY_SNAPSHOT, which no timeout helps. Every transaction here writes; one asking for
 * 'read only' stays deferred. Kysely has no setting for this (kysely#1152); its driver is where
 * a transaction starts, while rewriting the text in `prepare` would depend on the exact 'begin'
 * string Kysely happens to send.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(
    connection: DatabaseConnection,
    settings?: TransactionSettings,
  ): Promise<void> {
    const begin = settings?.accessMode === 'read only' ? 'begin' : 'begin immediate'
    await connection.executeQuery(CompiledQuery.raw(begin))
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(private readonly config: SqliteDialectConfig) {
    super(config)
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.config)
  }
}

export function openDatabase<DB>(config: DatabaseConfig): Db<DB> {
  if (config.kind === 'sqlite') {
    const connection = openSqlite(config.path, config.synchronous)
    const database = withStatementCache(connection)
    const kysely = new Kysely<DB>({ dialect: new ImmediateSqliteDialect({ database }) })
    const dataVersion = connection.prepare('PRAGMA data_version').pluck()
    // An open SQLite file keeps answering after it is deleted or replaced on disk, while every
    // write then goes to a file nobody will open again: readiness also checks it is still there.
    const file = config.path === ':memory:' ? undefined : path.resolve(config.path)
    const inode = file === undefined ? undefined : statSync(file).ino
    const observed = file === undefined ? undefined : openObserver(file)
    return {
      kysely,
      dialect: 'sqlite',
      // Read beside Kysely, not through it (its connection mutex would cost more than the read):
      // so it can land inside another request's open transaction, hence the check.
      dataVersion: () => (connection.inTransaction ? undefined : (dataVersion.get() as number)),
      ...(observed === undefined ? {} : { observer: observed.observer }),
      async ping() {
        await sql`select 1`.execute(kysely)
        if (file !== undefined && (await stat(file)).ino !== inode) {
          throw new Error('the database file was replaced')
        }
      },
      async close() {
        // The read-only observer first: the last connection to close checkpoints and removes
        // the WAL and SHM, which a read-only one cannot do.
        observed?.close()
        await kysely.destroy()
      },
    }
  }
  // Loaded only for PostgreSQL, so a SQLite deployment never pays its start-up time.
  const pg = createRequire(import.meta.url)('pg') as typeof PgModule
  // Timestamps are stored as ISO-8601 text on both dialects; keep bigint counts as numbers.
  pg.types.setTypeParser(20, (value) => Number.parseInt(value, 10))
  const pool = new pg.Pool({ connectionString: config.url, max: config.poolSize })
  // An idle connection the server ended (restart, failover, terminated backend) is dropped by
  // the pool and replaced on the next query; /readyz reports the outage meanwhile. Without a
  // listener this 'error' event would crash the process.
  pool.on('error', () => {})
  // The same for a connection that is checked out (mid-transaction, between two queries) when
  // the server ends it: the pool listens only to idle ones, so the client needs its own
  // listener. Its next query fails and the pool discards it on release.
  pool.on('connect', (client) => {
    client.on('error', () => {})
  })
  const kysely = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) })
  return {
    kysely,
    dialect: 'postgres',
    async ping() {
      await sql`select 1`.execute(kysely)
    },
    async close() {
      await kysely.destroy()
    },
  }
}

class StaticMigrations implements MigrationProvider {
  constructor(private readonly migrations: Record<string, Migration>) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return this.migrations
  }
}

/**
 * Runs every pending migration. Safe to run twice and from two processes at once: Kysely
 * takes a lock on PostgreSQL; on SQLite the loser of a race sees a busy database or an
 * already-applied migration, waits, and retries against the new state.
 */
export async function migrateToLatest<DB>(
  db: Db<DB>,
  migrations: Record<string, Migration>,
): Promise<void> {
  const migrator = new Migrator({ db: db.kysely, provider: new StaticMigrations(migrations) })
  let lastError: unknown
  for (let attempt = 0; attempt < 20; attempt++) {
    const { error } = await migrator.migrateToLatest()
    if (error === undefined) return
    lastError = error
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200))
  }
  throw lastError
}

/** True when a write failed on a unique constraint, on either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false
  const code = (error as { code?: unknown }).code
  return (
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === '23505'
  )
}

/**
 * `query` with the rows it reads locked until the transaction ends (SELECT … FOR UPDATE), for a
 * write that decides on what it read (If-Match, a state, a limit): on PostgreSQL's READ COMMITTED
 * a plain read does not stop a concurrent writer, so two transactions could both pass the check
 * and the later write undo the earlier one. Locked, the second waits, then reads what the first
 * committed. SQLite has no row locks, nor needs them: its transactions here begin as writers
 * (BEGIN IMMEDIATE), one at a time.
 */
export function lockedForWrite<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  dialect: DialectName,
): SelectQueryBuilder<DB, TB, O> {
  return dialect === 'postgres' ? query.forUpdate() : query
}

/**
 * `query` with the rows it reads kept from changing until the transaction ends (SELECT … FOR
 * SHARE), for a write elsewhere that holds only while they stay as read; readers and other
 * holders go on, a writer of those rows waits. PostgreSQL only, as lockedForWrite.
 */
export function lockedForShare<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  dialect: DialectName,
): SelectQueryBuilder<DB, TB, O> {
  return dialect === 'postgres' ? query.forShare() : query
}
