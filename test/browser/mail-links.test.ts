import { expect } from 'vitest'
import { eventually, linkIn, type ReceivedMail } from '../smtp.js'
import { describeBrowser, SETTLE, type Site } from './harness.js'

/** The newest mail to `address`, once it has arrived at the test's SMTP server. */
function mailTo(site: Site, address: string, count = 1): Promise<ReceivedMail> {
  return eventually(
    async () => site.smtp.mails.filter((mail) => mail.to.includes(address))[count - 1],
  )
}

async function statusOf(site: Site, address: string): Promise<unknown> {
  const list = await site.asAdmin('GET', `/api/v1/subscribers?q=${encodeURIComponent(address)}`)
  return (list.body.items as { status: string }[] | undefined)?.[0]?.status
}

describeBrowser('the pages mail links open', (journey) => {
  journey(
    'subscribe from the home page, confirm through the mail, unsubscribe from a campaign mail',
    async ({ page, site, step, readmeShot }) => {
      const address = 'reader@example.com'
      await page.goto('/')
      const list = page.getByRole('region', { name: 'Mailing list' })
      await list.getByLabel('Your name').fill('Reader')
      await list.getByLabel('Email address').fill(address)
      await readmeShot('home')
      await list.getByRole('button', { name: 'Subscribe' }).click()
      await list.getByRole('status').filter({ hasText: 'Almost done' }).waitFor()
      await step('subscribed')

      // The link in the mail opens a page that only shows a button: mail scanners follow links.
      await page.goto(linkIn(await mailTo(site, address), `${site.url}/subscribe/confirm?token=`))
      await expect.poll(() => page.title(), SETTLE).toContain('Confirm your subscription')
      await step('confirm page')
      expect(await statusOf(site, address)).toBe('pending')

      await page.getByRole('button', { name: 'Confirm subscription' }).click()
      await page.getByRole('heading', { level: 1, name: 'Subscription confirmed' }).waitFor()
      await step('confirmed')
      expect(await statusOf(site, address)).toBe('confirmed')

      const campaign = await site.asAdmin('POST', '/api/v1/campaigns', {
        subject: 'News',
        text: 'Hello, reader.',
      })
      await site.asAdmin('POST', `/api/v1/campaigns/${String(campaign.body.id)}/send`)
      await page.goto(linkIn(await mailTo(site, address, 2), `${site.url}/unsubscribe?token=`))
      await step('unsubscribe page')
      expect(await statusOf(site, address)).toBe('confirmed')

      await page.getByRole('button', { name: 'Unsubscribe' }).click()
      await page.getByRole('heading', { level: 1, name: 'You are unsubscribed' }).waitFor()
      await step('unsubscribed')
      expect(await statusOf(site, address)).toBe('unsubscribed')
    },
  )

  journey('a link that does not work says so', async ({ page, step }) => {
    await page.goto('/subscribe/confirm?token=not-a-token')
    await page.getByRole('button', { name: 'Confirm subscription' }).click()
    await page.getByRole('heading', { level: 1, name: 'This link does not work' }).waitFor()
    await step('invalid link')
  })
})
