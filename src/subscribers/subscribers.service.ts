import type { Kysely } from 'kysely'
import { uuidv7 } from 'uuidv7'
import { createAuditLog } from '../audit/audit.repository.js'
import { checkPreconditions, type Preconditions } from '../core/conditional.js'
import { type DialectName, isUniqueViolation } from '../core/db.js'
import { AppError } from '../core/errors.js'
import { type CursorCodec, pageById } from '../core/pagination.js'
import { isoAfterSeconds, nowIso } from '../core/time.js'
import { isEmailAddress } from '../core/validation.js'
import type { Database } from '../database.js'
import type { MailQueue } from '../mail/mail.delivery.js'
import type { ImportRecord } from './subscribers.import.js'
import { createSubscribersRepository, normaliseEmail } from './subscribers.repository.js'
import {
  type ImportResult,
  type Subscriber,
  type SubscriberCreate,
  type SubscriberListQuery,
  type SubscriberPage,
  type SubscriberPatch,
  toSubscriber,
} from './subscribers.schemas.js'
import type { NewSubscriberRow, SubscriberRowUpdate } from './subscribers.table.js'

const notFound = () => new AppError('SUBSCRIBER_NOT_FOUND', 'No such subscriber')
const emailTaken = () =>
  new AppError('SUBSCRIBER_EMAIL_TAKEN', 'This address is already on the list')
const invalidToken = () =>
  new AppError('INVALID_SUBSCRIBER_TOKEN', 'The link is invalid, has expired or was already used')

const CONFIRM_TOKEN_TTL_SECONDS = 48 * 60 * 60
/** A pending or unsubscribed address asking again gets at most one new mail in this window. */
const SIGNUP_MAIL_INTERVAL_MS = 10 * 60 * 1000
/** A confirmed address has nothing to confirm: at most one "already subscribed" notice. */
const ALREADY_SUBSCRIBED_NOTICE_INTERVAL_MS = 24 * 60 * 60 * 1000
const IMPORT_BATCH = 500
/** Errors listed in an import's answer; the rest are only counted (`error_count`). */
const IMPORT_ERRORS_LISTED = 100
// biome-ignore lint/suspicious/noControlCharactersInRegex: names go into mail headers
const CONTROL = /[\u0000-\u001f\u007f]/

export type SubscribersService = ReturnType<typeof createSubscribersService>

export function createSubscribersService(deps: {
  db: Kysely<Database>
  dialect: DialectName
  /** Confirmation and notice mails are queued in the signup's transaction. */
  mail: MailQueue
  cursors: CursorCodec
}) {
  const { db, dialect, mail } = deps
  const { tokens, links } = mail
  const subscribers = createSubscribersRepository(db, dialect)

  function newRow(
    input: { name: string; email: string },
    status: Subscriber['status'],
    now: string,
  ): NewSubscriberRow {
    const id = uuidv7()
    const email = input.email.normalize('NFC')
    return {
      id,
      name: input.name,
      email,
      email_normalised: normaliseEmail(email),
      status,
      unsubscribe_token_hash: tokens.hash(tokens.unsubscribeToken(id)),
      created_at: now,
      updated_at: now,
      confirmed_at: status === 'confirmed' ? now : null,
      unsubscribed_at: status === 'unsubscribed' ? now : null,
      last_mailed_at: null,
    }
  }

  function statusChanges(
    from: Subscriber['status'],
    to: Subscriber['status'],
    now: string,
  ): SubscriberRowUpdate {
    if (from === to) return {}
    if (to === 'confirmed') return { status: to, confirmed_at: now, unsubscribed_at: null }
    if (to === 'unsubscribed') return { status: to, unsubscribed_at: now }
    return { status: to }
  }

  async function change(
    id: string,
    patch: SubscriberPatch,
    preconditions: Preconditions | undefined,
  ): Promise<Subscriber> {
    try {
      return await db.transaction().execute(async (trx) => {
        const repo = createSubscribersRepository(trx, dialect)
        const row = await repo.findForUpdate(id)
        if (row === undefined) throw notFound()
        checkPreconditions(preconditions, toSubscriber(row))
        const now = nowIso()
        const changes: SubscriberRowUpdate = { updated_at: now }
        if (patch.name !== undefined) changes.name = patch.name
        if (patch.email !== undefined) {
          changes.email = patch.email.normalize('NFC')
          changes.email_normalised = normaliseEmail(patch.email)
        }
        if (patch.status !== undefined)
          Object.assign(changes, statusChanges(row.status, patch.status, now))
        const updated = await repo.update(id, changes)
        if (updated === undefined) throw notFound()
        return toSubscriber(updated)
      })
    } catch (error) {
      if (isUniqueViolation(error)) throw emailTaken()
      throw error
    }
  }

  return {
    /**
     * Public double opt-in. Whatever the address's state, the caller learns nothing: the
     * answer is the same and the work has the same shape (one transaction, at most one mail).
     * Anyone may submit any address, so a known address's record stays as it is (status and
     * name) until its owner opens the mailed link, and no mail carries the submitted name:
     * it would let a stranger put words into someone else's inbox. A pending or unsubscribed
     * address gets at most one confirmation mail per 10 minutes, so this cannot mail-bomb
     * anyone; a confirmed one has nothing to confirm and is told at most once a day that
     * someone asked.
     */
    async signup(input: { name: string; email: string }): Promise<void> {
      const now = nowIso()
      const since = (ms: number) => new Date(Date.now() - ms).toISOString()
      let queued = false
      try {
        await db.transaction().execute(async (trx) => {
          const repo = createSubscribersRepository(trx, dialect)
          // Locked: signups of one address at once would otherwise all see the last mail as
          // old enough, and each send one.
          const existing = await repo.findByEmailForUpdate(input.email)
          const lastMailed = existing?.last_mailed_at ?? ''
          if (existing?.status === 'confirmed') {
            if (lastMailed > since(ALREADY_SUBSCRIBED_NOTICE_INTERVAL_MS)) return
            await repo.update(existing.id, { last_mailed_at: now })
            await mail.enqueue(
              trx,
              {
                // The owner's own, confirmed record: its name is theirs, not the caller's.
                name: existing.name,
                email: existing.email,
                subject: 'You are already subscribed',
                text: `Hello,\n\nsomeone (perhaps you) asked to subscribe this address, which is already on the list. Nothing has changed.\n\nTo unsubscribe, open:\n${links.unsubscribe(tokens.unsubscribeToken(existing.id))}\n`,
              },
              now,
            )
            queued = true
            return
          }
          if (lastMailed > since(SIGNUP_MAIL_INTERVAL_MS)) return
          let subscriber: { id: string; email: string }
          if (existing === undefined) {
            const row = { ...newRow(input, 'pending', now), last_mailed_at: now }
            await repo.insert(row)
            subscriber = row
          } else {
            // Pending, or unsubscribed and perhaps coming back: only the link, opened by
            // whoever reads this address's mail, changes the record (to confirmed).
            await repo.update(existing.id, { last_mailed_at: now })
            subscriber = existing
          }
          const { token, hash } = tokens.newConfirmToken()
          await repo.insertConfirmToken({
            hash,
            subscriberId: subscriber.id,
            now,
            expiresAt: isoAfterSeconds(CONFIRM_TOKEN_TTL_SECONDS),
          })
          await mail.enqueue(
            trx,
            {
              name: '',
              email: subscriber.email,
              subject: 'Please confirm your subscription',
              text: `Hello,\n\nplease confirm your subscription by opening this link:\n${links.confirm(token)}\n\nThe link works once and expires in 48 hours. If you did not ask to subscribe, ignore this mail and nothing will happen.\n`,
            },
            now,
          )
          queued = true
        })
      } catch (error) {
        // Two signups for one new address at once: the other one sends the mail.
        if (!isUniqueViolation(error)) throw error
      }
      if (queued) mail.queued()
    },

    /** Admin create: `confirmed` unless told otherwise, no mail. */
    async create(input: SubscriberCreate): Promise<Subscriber> {
      const row = newRow(input, input.status ?? 'confirmed', nowIso())
      try {
        await subscribers.insert(row)
      } catch (error) {
        if (isUniqueViolation(error)) throw emailTaken()
        throw error
      }
      return toSubscriber({
        ...row,
        confirmed_at: row.confirmed_at ?? null,
        unsubscribed_at: row.unsubscribed_at ?? null,
        last_mailed_at: null,
      })
    },

    async get(id: string): Promise<Subscriber> {
      const row = await subscribers.findById(id)
      if (row === undefined) throw notFound()
      return toSubscriber(row)
    },

    async list(query: SubscriberListQuery): Promise<SubscriberPage> {
      return pageById(
        deps.cursors,
        query,
        (after) =>
          subscribers.list({ limit: query.limit, after, status: query.status, q: query.q }),
        toSubscriber,
      )
    },

    /** `preconditions` (If-Match, If-None-Match) are checked against the stored version. */
    update(id: string, patch: SubscriberPatch, preconditions?: Preconditions): Promise<Subscriber> {
      return change(id, patch, preconditions)
    },

    async delete(id: string, preconditions?: Preconditions): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const repo = createSubscribersRepository(trx, dialect)
        const row = await repo.findForUpdate(id)
        if (row === undefined) throw notFound()
        checkPreconditions(preconditions, toSubscriber(row))
        await repo.delete(id)
      })
    },

    /** Spends a single-use confirmation token; 400 for unknown, expired or used. */
    async confirm(token: string): Promise<Subscriber> {
      return db.transaction().execute(async (trx) => {
        const repo = createSubscribersRepository(trx, dialect)
        const now = nowIso()
        const subscriberId = await repo.useConfirmToken(tokens.hash(token), now)
        if (subscriberId === undefined) throw invalidToken()
        const row = await repo.findById(subscriberId)
        if (row === undefined) throw invalidToken()
        if (row.status === 'confirmed') return toSubscriber(row)
        const updated = await repo.update(row.id, {
          ...statusChanges(row.status, 'confirmed', now),
          updated_at: now,
        })
        if (updated === undefined) throw invalidToken()
        return toSubscriber(updated)
      })
    },

    /** The unsubscribe token lasts as long as the subscriber: old mails' links keep working. */
    async unsubscribe(token: string): Promise<Subscriber> {
      const row = await subscribers.findByUnsubscribeHash(tokens.hash(token))
      if (row === undefined) throw invalidToken()
      if (row.status === 'unsubscribed') return toSubscriber(row)
      const now = nowIso()
      const updated = await subscribers.update(row.id, {
        ...statusChanges(row.status, 'unsubscribed', now),
        updated_at: now,
      })
      if (updated === undefined) throw invalidToken()
      return toSubscriber(updated)
    },

    /**
     * Imports records as they stream in, a batch per transaction, so neither the body nor the
     * result of 100,000 rows is ever held at once. A bad record is counted and skipped; only
     * the first 100 are listed, as a body of bad lines would otherwise grow the answer (and
     * memory) with its size.
     */
    async import(
      records: AsyncIterable<ImportRecord>,
      /** Audited as this actor's import (the command line's); the API's is not. */
      actorId?: string,
    ): Promise<ImportResult> {
      const result: ImportResult = { created: 0, skipped: 0, errors: [], error_count: 0 }
      const reject = (line: number, message: string) => {
        result.error_count += 1
        if (result.errors.length < IMPORT_ERRORS_LISTED) result.errors.push({ line, message })
      }
      let batch: { line: number; name: string; email: string }[] = []
      const flush = async () => {
        const rows = batch
        batch = []
        if (rows.length === 0) return
        await db.transaction().execute(async (trx) => {
          const repo = createSubscribersRepository(trx, dialect)
          const known = await repo.knownEmails(rows.map((row) => normaliseEmail(row.email)))
          const now = nowIso()
          const fresh: NewSubscriberRow[] = []
          for (const row of rows) {
            const normalised = normaliseEmail(row.email)
            if (known.has(normalised)) {
              result.skipped += 1
              continue
            }
            known.add(normalised)
            fresh.push(newRow(row, 'confirmed', now))
          }
          // An address added since `known` was read (another import, a signup) is skipped by the
          // insert. In address order, so that two imports wait for each other's rows in one
          // order and cannot deadlock.
          fresh.sort((a, b) => (a.email_normalised < b.email_normalised ? -1 : 1))
          let created = 0
          // SQLite caps bound parameters per statement: insert in slices.
          for (let i = 0; i < fresh.length; i += 50) {
            created += await repo.insertNew(fresh.slice(i, i + 50))
          }
          result.created += created
          result.skipped += fresh.length - created
        })
      }
      for await (const record of records) {
        if ('error' in record) {
          reject(record.line, record.error)
          continue
        }
        const problem = checkImported(record.name, record.email)
        if (problem !== undefined) {
          reject(record.line, problem)
          continue
        }
        batch.push({
          line: record.line,
          name: record.name as string,
          email: record.email as string,
        })
        if (batch.length >= IMPORT_BATCH) await flush()
      }
      await flush()
      if (actorId !== undefined) {
        await createAuditLog(db).record('subscribers.import', actorId, {
          created: String(result.created),
          skipped: String(result.skipped),
          errors: String(result.error_count),
        })
      }
      return result
    },

    /** How many subscribers there are (an export's progress). */
    count(): Promise<number> {
      return subscribers.count()
    },

    /** Every subscriber in id order, a page at a time. */
    async *all(): AsyncGenerator<Subscriber> {
      let after: string | null = null
      for (;;) {
        // `limit + 1` rows come back: 1,000 a page.
        const rows = await subscribers.list({ limit: 999, after, status: undefined, q: undefined })
        for (const row of rows) yield toSubscriber(row)
        const last = rows[rows.length - 1]
        if (rows.length < 1000 || last === undefined) return
        after = last.id
      }
    },

    async pruneExpired(): Promise<void> {
      await subscribers.deleteExpiredTokens(nowIso())
    },
  }
}

function checkImported(name: unknown, email: unknown): string | undefined {
  if (typeof email !== 'string' || email.trim() === '') return 'email is missing'
  if (email.length > 254 || !isEmailAddress(email)) return 'email is not a valid address'
  if (typeof name !== 'string' || name.trim() === '') return 'name is missing'
  if (name.length > 100) return 'name is longer than 100 characters'
  if (CONTROL.test(name)) return 'name contains control characters'
  return undefined
}
