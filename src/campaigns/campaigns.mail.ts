import { nowIso } from '../core/time.js'
import type { MailContext, MailHooks } from '../mail/mail.delivery.js'
import { createCampaignQueuer } from './campaigns.queuer.js'
import { createCampaignsRepository } from './campaigns.repository.js'

/**
 * Campaigns' part in mail delivery, built on whichever thread delivers: their mails rendered
 * at send time, a campaign marked sent once none of its mails is pending, and their queuing.
 */
export function campaignMailHooks(context: MailContext): MailHooks {
  const { db, tokens, links } = context
  const campaigns = createCampaignsRepository(db)
  // A campaign's text is read once, not once a mail.
  const contents = new Map<string, { subject: string; text: string }>()
  return {
    render: {
      async campaign(row) {
        const campaignId = row.campaign_id ?? ''
        let content = contents.get(campaignId)
        if (content === undefined) {
          const campaign = await campaigns.findById(campaignId)
          if (campaign === undefined) throw new Error('campaign not found')
          content = { subject: campaign.subject, text: campaign.text }
          contents.set(campaignId, content)
        }
        const unsubscribe = links.unsubscribe(tokens.unsubscribeToken(row.subscriber_id ?? ''))
        return {
          subject: content.subject,
          text: `${content.text}\n\n--\nYou get this mail because you subscribed to this list.\nUnsubscribe: ${unsubscribe}\n`,
          headers: {
            // RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe button.
            'List-Unsubscribe': `<${unsubscribe}>`,
            'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
          },
        }
      },
    },
    async settled(rows) {
      const ids = new Set<string>()
      for (const row of rows) if (row.campaign_id !== null) ids.add(row.campaign_id)
      await campaigns.finish([...ids], nowIso())
    },
    jobs: [
      createCampaignQueuer({
        db,
        messageIdHost: context.messageIdHost,
        chunk: context.config.campaignQueueChunk,
        queued: context.kick,
        log: context.log,
      }),
    ],
  }
}
