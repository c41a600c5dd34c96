import { expect } from 'vitest'
import { freshStep, totpCode } from '../totp.js'
import {
  DESKTOP,
  describeBrowser,
  NARROW,
  PASSWORD,
  registerUser,
  SETTLE,
  signIn,
} from './harness.js'

describeBrowser('two-factor login', (journey) => {
  journey(
    'set up two-factor on the account page from the key shown, sign out, sign in with password then code',
    async ({ page, site, step }) => {
      await registerUser(site, 'scully', 'Dana Scully')
      await signIn(page, 'scully', PASSWORD, '/app/account')
      const section = page.getByRole('region', { name: 'Two-factor login' })
      await section.getByLabel('Password').fill(PASSWORD)
      await section.getByRole('button', { name: 'Set up two-factor login' }).click()

      const qr = section.getByRole('img', { name: /QR code/ })
      await qr.waitFor()
      await expect
        .poll(
          () => qr.evaluate((image) => (image as unknown as { naturalWidth: number }).naturalWidth),
          SETTLE,
        )
        .toBeGreaterThan(0)
      const secret = ((await section.locator('#mfa-secret').textContent()) ?? '').trim()
      expect(secret).toMatch(/^[A-Z2-7]{32}$/)
      await step('the QR code and the key')

      await freshStep()
      await section.getByLabel('Code from the app').fill(totpCode(secret))
      await section.getByRole('button', { name: 'Turn on two-factor login' }).click()
      const codes = section.getByRole('list', { name: 'Recovery codes' })
      await codes.waitFor()
      await expect.poll(() => codes.getByRole('listitem').count(), SETTLE).toBe(10)
      await step('recovery codes, shown once')
      await section.getByRole('button', { name: 'I have saved them' }).click()
      await codes.waitFor({ state: 'detached' })
      expect(await page.locator('main').textContent()).not.toContain(secret)
      await section.getByRole('button', { name: 'Turn off two-factor login' }).waitFor()

      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL((url) => url.pathname === '/login')
      await page.getByLabel('Username').fill('scully')
      await page.getByLabel('Password').fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL((url) => url.pathname === '/login/mfa')
      // A phone's width: nothing scrolls sideways.
      await page.setViewportSize(NARROW)
      expect(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')).toBe(
        0,
      )
      await step('the code page')
      await page.setViewportSize(DESKTOP)
      // The code of the next step: the current one was spent on turning two-factor on.
      await page.getByLabel('Code').fill(totpCode(secret, 1))
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL((url) => url.pathname === '/app')
      await step('signed in with password and code')
    },
  )
})
