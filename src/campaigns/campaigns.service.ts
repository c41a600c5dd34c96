import type { Kysely } from 'kysely'
import { uuidv7 } from 'uuidv7'
import { AppError } from '../core/errors.js'
import { type CursorCodec, pageById } from '../core/pagination.js'
import { nowIso } from '../core/time.js'
import type { Database } from '../database.js'
import { createCampaignsRepository } from './campaigns.repository.js'
import {
  type Campaign,
  type CampaignCreate,
  type CampaignListQuery,
  type CampaignPage,
  toCampaign,
} from './campaigns.schemas.js'
import type { CampaignRow } from './campaigns.table.js'

const notFound = () => new AppError('CAMPAIGN_NOT_FOUND', 'No such campaign')

export type CampaignsService = ReturnType<typeof createCampaignsService>

export function createCampaignsService(deps: {
  db: Kysely<Database>
  cursors: CursorCodec
  /** Starts queuing a campaign just marked 'queuing' (see createCampaignQueuer). */
  queueCampaign: (id: string) => void
}) {
  const { db } = deps
  const campaigns = createCampaignsRepository(db)

  async function withCounts(rows: readonly CampaignRow[]): Promise<Campaign[]> {
    const counts = await campaigns.counts(rows.map((row) => row.id))
    return rows.map((row) =>
      toCampaign(row, counts.get(row.id) ?? { recipients: 0, sent: 0, failed: 0 }),
    )
  }

  async function get(id: string): Promise<Campaign> {
    const row = await campaigns.findById(id)
    if (row === undefined) throw notFound()
    const [campaign] = await withCounts([row])
    if (campaign === undefined) throw notFound()
    return campaign
  }

  return {
    async create(input: CampaignCreate): Promise<Campaign> {
      const row = {
        id: uuidv7(),
        subject: input.subject,
        text: input.text,
        status: 'draft' as const,
        created_at: nowIso(),
        sent_at: null,
        queued_through: '',
      }
      await campaigns.insert(row)
      return toCampaign(row, { recipients: 0, sent: 0, failed: 0 })
    },

    get,

    async list(query: CampaignListQuery): Promise<CampaignPage> {
      // The counts of a page's campaigns come in one query, after paging.
      const page = await pageById(
        deps.cursors,
        query,
        (after) => campaigns.list(query.limit, after),
        (row) => row,
      )
      return { ...page, items: await withCounts(page.items) }
    },

    /**
     * Marks the campaign 'queuing' and answers at once; the mails are queued in the
     * background, a chunk of subscribers per transaction. Calling it again queues only
     * subscribers who have no row yet (unique per campaign and subscriber), so nobody gets the
     * campaign twice.
     */
    async send(id: string): Promise<Campaign> {
      await db.transaction().execute(async (trx) => {
        const repo = createCampaignsRepository(trx)
        const row = await repo.findById(id)
        if (row === undefined) throw notFound()
        // From the first subscriber again, even while queuing: a run in progress picks up the
        // reset cursor, so someone confirmed behind it since is not missed.
        await repo.startQueuing(id)
      })
      deps.queueCampaign(id)
      return get(id)
    },
  }
}
