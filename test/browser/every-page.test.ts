import type { Page } from 'playwright-core'
import { expect } from 'vitest'
import {
  ADMIN,
  describeBrowser,
  NARROW,
  PASSWORD,
  registerUser,
  rendered,
  signIn,
} from './harness.js'

interface PageShape {
  readonly overflowPx: number
  readonly h1: number
  readonly title: string
  /** Visible form controls without an accessible name: their id or name. */
  readonly unlabelled: string[]
}

/** What API.md §8 asks of every page, read in the page once it has rendered. */
async function shapeOf(page: Page): Promise<PageShape> {
  await rendered(page)
  return (await page.evaluate(`(() => {
  const controls = [...document.querySelectorAll('input, select, textarea')].filter(
    (control) => control.type !== 'hidden' && control.getClientRects().length > 0,
  )
  return {
    overflowPx: document.documentElement.scrollWidth - window.innerWidth,
    h1: document.querySelectorAll('h1').length,
    title: document.title,
    unlabelled: controls
      .filter((control) => control.labels.length === 0 && !control.getAttribute('aria-label') && !control.getAttribute('aria-labelledby'))
      .map((control) => control.id || control.name || control.outerHTML.slice(0, 60)),
  }
})()`)) as PageShape
}

describeBrowser('every page', (journey) => {
  journey(
    'fits 360 px without sideways scrolling, has one h1 and a title, and labels every field',
    async ({ page, context, site, step }) => {
      await registerUser(site, 'lin', 'Lin Narrow')
      const visit = async (path: string) => {
        await page.goto(path)
        const shape = await shapeOf(page)
        await step(path)
        expect({ path, ...shape }).toMatchObject({
          path,
          overflowPx: 0,
          h1: 1,
          unlabelled: [],
        })
        expect(shape.title).toMatch(/Gatehouse/)
      }
      for (const path of ['/', '/login', '/register', '/subscribe/confirm?token=x']) {
        await visit(path)
      }
      await signIn(page, 'lin', PASSWORD)
      await visit('/app')
      await visit('/app/account')
      await context.clearCookies()
      await signIn(page, ADMIN.username, ADMIN.password, '/admin')
      await visit('/admin')
    },
    { viewport: NARROW },
  )
})
