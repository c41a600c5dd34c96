import type { Page } from 'playwright-core'
import { expect } from 'vitest'
import { basicAuth } from '../process.js'
import {
  ADMIN,
  describeBrowser,
  expectInert,
  PASSWORD,
  registerUser,
  SETTLE,
  type Site,
  STORED_MARKUP,
  signIn,
} from './harness.js'

async function createTodo(site: Site, username: string, title: string): Promise<void> {
  const response = await fetch(`${site.url}/api/v1/todos`, {
    method: 'POST',
    headers: { authorization: basicAuth(username, PASSWORD), 'content-type': 'application/json' },
    body: JSON.stringify({ title }),
  })
  if (response.status !== 201) throw new Error(`create todo: ${response.status}`)
}

async function openSection(page: Page, tab: string): Promise<void> {
  await page.getByRole('tab', { name: tab }).click()
  await expect
    .poll(() => page.getByRole('tab', { name: tab }).getAttribute('aria-selected'))
    .toBe('true')
}

/** The board's todo titles. */
function titles(page: Page): Promise<string[]> {
  return page
    .getByRole('list', { name: 'Todos' })
    .getByRole('heading', { level: 3 })
    .allTextContents()
}

describeBrowser('the admin console', (journey) => {
  journey(
    'an admin promotes a user, who then sees everyone’s todos',
    async ({ page, site, step, anotherPerson, readmeShot }) => {
      await registerUser(site, 'bob', 'Bob Builder')
      await registerUser(site, 'carol', 'Carol Singer')
      await createTodo(site, 'bob', 'Fix the fence')
      await createTodo(site, 'carol', 'Tune the piano')

      // Bob, a user: his own todos, and no admin controls anywhere.
      await signIn(page, 'bob', PASSWORD)
      await page.getByRole('heading', { level: 2, name: 'Your todos' }).waitFor()
      await expect.poll(() => titles(page), SETTLE).toEqual(['Fix the fence'])
      const main = page.getByRole('navigation', { name: 'Main' })
      expect(await main.getByRole('link', { name: 'Admin' }).count()).toBe(0)
      expect(await page.getByLabel('Owner').count()).toBe(0)
      await step('bob, a user')
      const forbidden = await page.goto('/admin')
      expect(forbidden?.status()).toBe(403)
      await page.getByRole('heading', { level: 1, name: 'Admins only' }).waitFor()
      await step('bob may not open /admin')

      // The admin, in another browser, makes him an admin.
      const admin = await anotherPerson()
      await signIn(admin, ADMIN.username, ADMIN.password, '/admin')
      const bobsRow = admin.getByRole('row').filter({ hasText: 'Bob Builder' })
      await bobsRow.getByRole('cell', { name: 'User', exact: true }).waitFor()
      await readmeShot('admin-users', { page: admin })
      await bobsRow.getByRole('button', { name: 'Make bob an admin' }).click()
      await admin.getByRole('status').filter({ hasText: 'bob is now an admin' }).waitFor()
      await bobsRow.getByRole('cell', { name: 'Admin', exact: true }).waitFor()
      await step('the admin promotes bob', admin)

      // Bob's next page knows: everyone's todos, the owner filter, the Admin link.
      await page.goto('/app')
      await page.getByRole('heading', { level: 2, name: 'Everyone’s todos' }).waitFor()
      await expect
        .poll(async () => (await titles(page)).sort(), SETTLE)
        .toEqual(['Fix the fence', 'Tune the piano'])
      await main.getByRole('link', { name: 'Admin' }).waitFor()
      await page.getByLabel('Owner').selectOption({ label: 'carol (Carol Singer)' })
      await expect.poll(() => titles(page), SETTLE).toEqual(['Tune the piano'])
      await step('bob, an admin, sees carol’s todos')
    },
  )

  journey(
    'import a CSV with a bad line and see which line and why',
    async ({ page, site, step }) => {
      await signIn(page, ADMIN.username, ADMIN.password, '/admin')
      await openSection(page, 'Subscribers')
      const csv = [
        'name,email',
        'Ann,ann@example.com',
        'Bad Line,not-an-address',
        'Ben,ben@example.com',
      ].join('\n')
      const form = page.getByRole('form', { name: 'Import from CSV' })
      await form.getByLabel('CSV file').setInputFiles({
        name: 'subscribers.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from(csv),
      })
      await form.getByRole('button', { name: 'Import' }).click()
      await form.getByRole('alert').filter({ hasText: '2 added' }).waitFor()
      expect(await form.getByRole('alert').textContent()).toContain('1 line with errors')
      const bad = form.getByRole('table', { name: 'Lines that were not imported' }).getByRole('row')
      // The header row, then line 3 of the file (the header is line 1).
      await expect.poll(() => bad.count(), SETTLE).toBe(2)
      expect(await bad.nth(1).getByRole('rowheader').textContent()).toBe('3')
      await step('imported, one bad line')

      const list = await site.asAdmin('GET', '/api/v1/subscribers')
      expect((list.body.items as { email: string }[]).map((s) => s.email).sort()).toEqual([
        'ann@example.com',
        'ben@example.com',
      ])
    },
  )

  journey(
    'send a campaign and watch its progress reach sent',
    async ({ page, site, step, readmeShot }) => {
      const readers = ['ria', 'sam', 'tea'].map((name) => `${name}@example.com`)
      for (const email of readers) {
        expect(
          (await site.asAdmin('POST', '/api/v1/subscribers', { name: 'Reader', email })).status,
        ).toBe(201)
      }
      // The other journeys of this file may have added subscribers of their own.
      const confirmed = await site.asAdmin('GET', '/api/v1/subscribers?status=confirmed&limit=100')
      const recipients = (confirmed.body.items as unknown[]).length
      // A slow mail server, so the page shows the campaign while it sends.
      site.smtp.setDelay(400)
      try {
        await signIn(page, ADMIN.username, ADMIN.password, '/admin')
        await openSection(page, 'Campaigns')
        const draft = page.getByRole('region', { name: 'New campaign' })
        await draft.getByLabel('Subject').fill('Spring news')
        await draft.getByLabel('Text').fill('The garden is open again.')
        await draft.getByRole('button', { name: 'Save draft' }).click()
        const item = page.getByRole('listitem', { name: 'Spring news' })
        await item.getByText('Draft', { exact: true }).waitFor()
        await step('draft')

        await item.getByRole('button', { name: 'Send campaign “Spring news”' }).click()
        const confirm = page.getByRole('dialog', { name: 'Send this campaign?' })
        await confirm.getByRole('button', { name: 'Send now' }).click()
        await item.getByText('Sending', { exact: true }).waitFor()
        await step('sending')
        await item.getByText('Sent', { exact: true }).waitFor({ timeout: 20_000 })
        const counts = new RegExp(
          `Sent\\s*${recipients}\\s*Failed\\s*0\\s*of\\s*${recipients}\\s*recipients`,
        )
        expect(await item.textContent()).toMatch(counts)
        await readmeShot('admin-campaigns')
        await step('sent')
      } finally {
        site.smtp.setDelay(0)
      }
      const mailed = site.smtp.mails.filter((mail) => mail.parsed.subject === 'Spring news')
      expect(mailed).toHaveLength(recipients)
      expect(mailed.flatMap((mail) => mail.to)).toEqual(expect.arrayContaining(readers))
    },
  )

  journey(
    'a user name and a campaign subject holding markup render as text',
    async ({ page, site, step }) => {
      await registerUser(site, 'mallory', STORED_MARKUP.name)
      const campaign = await site.asAdmin('POST', '/api/v1/campaigns', {
        subject: STORED_MARKUP.subject,
        text: 'x',
      })
      expect(campaign.status).toBe(201)
      await signIn(page, ADMIN.username, ADMIN.password, '/admin')
      await page.getByRole('cell', { name: STORED_MARKUP.name, exact: true }).waitFor()
      await expectInert(page)
      await step('users')
      await openSection(page, 'Campaigns')
      await page
        .getByRole('heading', { level: 4, name: STORED_MARKUP.subject, exact: true })
        .waitFor()
      await expectInert(page)
      await step('campaigns')
    },
  )
})
