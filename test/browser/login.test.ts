import { expect } from 'vitest'
import { describeBrowser, PASSWORD, registerUser } from './harness.js'

describeBrowser('the login form', (journey) => {
  journey(
    'works without JavaScript: a wrong password gets the form back, the right one a session the API accepts',
    async ({ page, context, site, step }) => {
      await registerUser(site, 'ada', 'Ada Lovelace')
      await page.goto('/login?next=/api/v1/profile')
      expect(await page.title()).toContain('Sign in')
      await step('login form')

      await page.getByLabel('Username').fill('ada')
      await page.getByLabel('Password').fill('not-her-password-at-all')
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByRole('alert').filter({ hasText: 'Invalid username or password' }).waitFor()
      expect(await page.getByLabel('Username').inputValue()).toBe('ada')
      expect(await page.getByLabel('Password').inputValue()).toBe('')
      await step('wrong password')

      await page.getByLabel('Password').fill(PASSWORD)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL(`${site.url}/api/v1/profile`)
      // The browser shows the API's JSON: the session cookie authenticated it.
      expect(JSON.parse((await page.locator('body').textContent()) ?? '')).toMatchObject({
        username: 'ada',
        name: 'Ada Lovelace',
      })
      await step('signed in')

      const cookies = new Map((await context.cookies()).map((cookie) => [cookie.name, cookie]))
      expect(cookies.get('gh_session')).toMatchObject({
        httpOnly: true,
        sameSite: 'Lax',
        path: '/',
      })
      expect(cookies.get('gh_csrf')).toMatchObject({
        httpOnly: false,
        sameSite: 'Strict',
        path: '/',
      })
    },
    { javaScriptEnabled: false },
  )
})
