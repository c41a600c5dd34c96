import { expect } from 'vitest'
import { basicAuth } from '../process.js'
import {
  ADMIN,
  describeBrowser,
  expectInert,
  PASSWORD,
  registerUser,
  SETTLE,
  STORED_MARKUP,
  signIn,
} from './harness.js'

const { title: TITLE, name: NAME } = STORED_MARKUP

describeBrowser('stored markup', (journey) => {
  journey(
    'a todo title and a user name holding markup render as text on the board and the account page',
    async ({ page, context, site, step }) => {
      await registerUser(site, 'mallory', NAME)
      const created = await fetch(`${site.url}/api/v1/todos`, {
        method: 'POST',
        headers: {
          authorization: basicAuth('mallory', PASSWORD),
          'content-type': 'application/json',
        },
        body: JSON.stringify({ title: TITLE }),
      })
      expect(created.status).toBe(201)

      await signIn(page, 'mallory', PASSWORD)
      await page.getByRole('heading', { level: 3, name: TITLE, exact: true }).waitFor()
      await expectInert(page)
      await step('her board')

      await page.goto('/app/account')
      await expect.poll(() => page.getByLabel('Name').first().inputValue(), SETTLE).toBe(NAME)
      await expectInert(page)
      await step('her account')

      // The admin sees her todo and her name (in the owner filter) on everyone's board.
      await context.clearCookies()
      await signIn(page, ADMIN.username, ADMIN.password)
      await page.getByRole('heading', { level: 3, name: TITLE, exact: true }).waitFor()
      await expect
        .poll(() => page.getByLabel('Owner').locator('option').allTextContents(), SETTLE)
        .toContain(`mallory (${NAME})`)
      await expectInert(page)
      await step('the admin board')
    },
  )
})
