import { expect } from 'vitest'
import { eventually, linkIn, type ReceivedMail } from '../smtp.js'
import { describeBrowser, PASSWORD, type Site, signIn } from './harness.js'

/** The mail to `address` whose text holds a link starting with `prefix`, once it has arrived. */
function linkTo(site: Site, address: string, prefix: string): Promise<string> {
  return eventually(async () => {
    const mail: ReceivedMail | undefined = site.smtp.mails.find(
      (received) => received.to.includes(address) && (received.parsed.text ?? '').includes(prefix),
    )
    return mail === undefined ? undefined : linkIn(mail, prefix)
  })
}

describeBrowser('account recovery', (journey) => {
  journey(
    'forgot the password: a link from the sign-in page, a new password, signed in with it',
    async ({ page, site, step }) => {
      const address = 'scully@example.test'
      const registered = await site.anonymous('POST', '/api/v1/auth/register', {
        username: 'scully',
        password: PASSWORD,
        name: 'Dana Scully',
        email: address,
      })
      expect(registered.status).toBe(201)
      const verifyLink = await linkTo(site, address, `${site.url}/verify-email?token=`)
      const token = new URL(verifyLink).searchParams.get('token')
      const verified = await site.anonymous('POST', '/api/v1/profile/email/verify', { token })
      expect(verified.status).toBe(200)

      await page.goto('/login')
      await page.getByRole('link', { name: 'Forgot your password?' }).click()
      await page.getByRole('heading', { level: 1, name: 'Forgot your password?' }).waitFor()
      await page.getByLabel('Username or email address').fill(address)
      await step('asking for a link')
      await page.getByRole('button', { name: 'Mail me a reset link' }).click()
      await page
        .getByRole('status')
        .filter({ hasText: 'a link to choose a new password' })
        .waitFor()
      await step('asked')

      await page.goto(await linkTo(site, address, `${site.url}/reset-password?token=`))
      const newPassword = 'a brand new password for scully'
      await page.getByLabel('New password').fill(newPassword)
      await page.getByRole('button', { name: 'Set the new password' }).click()
      await page.getByRole('heading', { level: 1, name: 'Password changed' }).waitFor()
      await step('password changed')

      await signIn(page, 'scully', newPassword)
      expect(new URL(page.url()).pathname).toBe('/app')
      await step('signed in with the new password')
    },
  )
})
