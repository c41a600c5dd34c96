import { expect } from 'vitest'
import { describeBrowser, PASSWORD, registerUser, SETTLE } from './harness.js'

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

  journey('by keyboard alone, with the focus visible', async ({ page, site, step }) => {
    await registerUser(site, 'kay', 'Kay Board')
    await page.goto('/login?next=/api/v1/profile')
    // The username field has the focus from the start (autofocus, applied once the page has
    // rendered); Tab moves on, Enter sends the form.
    await expect
      .poll(() => page.getByLabel('Username').evaluate((field) => field.matches(':focus')), SETTLE)
      .toBe(true)
    await page.keyboard.type('kay')
    await page.keyboard.press('Tab')
    expect(await page.getByLabel('Password').evaluate(isFocusedVisibly)).toBe(true)
    await page.keyboard.type(PASSWORD)
    await step('typed')
    await page.keyboard.press('Enter')
    await page.waitForURL(`${site.url}/api/v1/profile`)
  })
})

/** The element has the focus, and the page draws it (an outline or a ring). */
function isFocusedVisibly(element: { matches(selector: string): boolean }): boolean {
  const style = (
    globalThis as unknown as {
      getComputedStyle(element: unknown): { outlineStyle: string; boxShadow: string }
    }
  ).getComputedStyle(element)
  return (
    element.matches(':focus-visible') &&
    (style.outlineStyle !== 'none' || style.boxShadow !== 'none')
  )
}
