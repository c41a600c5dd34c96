import { expect } from 'vitest'
import { eventually, linkIn } from '../smtp.js'
import { ADMIN, describeBrowser, PASSWORD, registerUser, SETTLE, signIn } from './harness.js'

describeBrowser('the account page', (journey) => {
  journey(
    'end the session of another browser, which is signed out at once; an API key shown once',
    async ({ page, site, step, anotherPerson, readmeShot }) => {
      await registerUser(site, 'dana', 'Dana Scully')
      const laptop = page
      const phone = await anotherPerson()
      await signIn(laptop, 'dana', PASSWORD)
      await signIn(phone, 'dana', PASSWORD)

      await laptop.goto('/app/account')
      const sessions = laptop.getByRole('region', { name: 'Sessions' })
      await expect.poll(() => sessions.getByRole('listitem').count(), SETTLE).toBe(2)
      await step('two sessions')
      await sessions.getByRole('button', { name: 'End all other sessions' }).click()
      const confirm = laptop.getByRole('dialog', { name: 'End every other session?' })
      await confirm.getByRole('button', { name: 'End other sessions' }).click()
      await laptop
        .getByRole('status')
        .filter({ hasText: 'Every other session has ended' })
        .waitFor()
      await expect.poll(() => sessions.getByRole('listitem').count(), SETTLE).toBe(1)
      await step('one session left')

      // The phone's next page finds its cookie dead and asks to sign in again.
      await phone.goto('/app')
      expect(new URL(phone.url()).pathname).toBe('/login')
      await step('the phone is signed out', phone)

      const keys = laptop.getByRole('region', { name: 'API keys' })
      await keys.getByLabel('Name').fill('CI deploys')
      await keys.getByRole('button', { name: 'Create key' }).click()
      const shown = keys.getByRole('status').filter({ hasText: 'shown only once' })
      await shown.waitFor()
      const key = (await shown.getByText(/^gh_/).textContent()) ?? ''
      expect(key).toMatch(/^gh_\S{20,}$/)
      await step('a new key')
      const asKey = await fetch(`${site.url}/api/v1/profile`, {
        headers: { authorization: `Bearer ${key}` },
      })
      expect(asKey.status).toBe(200)
      expect(await asKey.json()).toMatchObject({ username: 'dana' })

      await shown.getByRole('button', { name: 'I have copied it' }).click()
      await shown.waitFor({ state: 'detached' })
      expect(await laptop.locator('main').textContent()).not.toContain(key)
      await keys.getByRole('heading', { level: 3, name: 'CI deploys' }).waitFor()
      await step('the key, no longer shown')
      await readmeShot('account')
    },
  )

  journey(
    'add an email address and verify it through the mailed link; an admin then mails a reset link',
    async ({ page, site, step, anotherPerson }) => {
      await registerUser(site, 'fox', 'Fox Mulder')
      await signIn(page, 'fox', PASSWORD)
      await page.goto('/app/account')
      const profile = page.getByRole('region', { name: 'Profile' })
      const email = profile.getByLabel('Email (optional)')
      await email.fill('fox@example.test')
      await profile.getByRole('button', { name: 'Save profile' }).click()
      await page
        .getByRole('status')
        .filter({ hasText: 'We mailed a link to fox@example.test' })
        .waitFor()
      await profile.getByText('Not verified yet').waitFor()
      await step('address saved, not verified')

      const mail = await eventually(async () =>
        site.smtp.mails.find((received) => received.to.includes('fox@example.test')),
      )
      // The link opens a page that only shows a button (mail scanners follow links).
      await page.goto(linkIn(mail, `${site.url}/verify-email?token=`))
      await step('verify page')
      await page.getByRole('button', { name: 'Confirm address' }).click()
      await page.getByRole('heading', { level: 1, name: 'Email address confirmed' }).waitFor()
      await step('verified')

      await page.goto('/app/account')
      await page.getByRole('region', { name: 'Profile' }).getByText('Verified.').waitFor()
      await step('the account page says verified')

      // A verified address is what an admin's "Send reset link" needs.
      const admin = await anotherPerson()
      await signIn(admin, ADMIN.username, ADMIN.password, '/admin')
      await admin.getByLabel('Search users').fill('fox')
      await admin.getByRole('button', { name: 'Search' }).click()
      await admin.getByRole('button', { name: 'Send fox a password reset link' }).click()
      await admin
        .getByRole('status')
        .filter({ hasText: 'Mailed a password reset link to fox' })
        .waitFor()
      await step('an admin mailed a reset link', admin)
      await eventually(async () =>
        site.smtp.mails.find(
          (received) =>
            received.to.includes('fox@example.test') &&
            (received.parsed.text ?? '').includes('/reset-password?token='),
        ),
      )
    },
  )
})
