import type { Page } from 'playwright-core'
import { expect } from 'vitest'
import { describeBrowser, measureFirstRender, PASSWORD, recordFigures, SETTLE } from './harness.js'

/** A todo on the board, for the first-render figure (a CSS selector: it runs in the page). */
const TODO_ITEM = 'ul[aria-label="Todos"] > li'

/** The titles on the board, top to bottom. */
async function titles(page: Page): Promise<string[]> {
  return page
    .getByRole('list', { name: 'Todos' })
    .getByRole('heading', { level: 3 })
    .allTextContents()
}

async function addTodo(page: Page, title: string, due?: string): Promise<void> {
  const form = page.getByRole('region', { name: 'New todo' })
  await form.getByLabel('Title').fill(title)
  if (due !== undefined) await form.getByLabel('Due date').fill(due)
  await form.getByRole('button', { name: 'Add todo' }).click()
  await page
    .getByRole('status')
    .filter({ hasText: `Added “${title}”` })
    .waitFor()
}

describeBrowser('the todo board', (journey) => {
  journey(
    'register, sign in, create, edit, sort, filter and delete todos, sign out',
    async ({ page, context, site, step, readmeShot }) => {
      await page.goto('/')
      await page.getByRole('main').getByRole('link', { name: 'Register' }).click()
      await page.waitForURL('**/register')
      await page.getByLabel('Username').fill('grace')
      await page.getByLabel('Your name').fill('Grace Hopper')
      // Long enough for the browser's own check, but one of the common passwords the service refuses.
      await page.getByLabel('Password').fill('password1234')
      await page.getByRole('button', { name: 'Create account' }).click()
      // The API's problem+json, shown beside the field it names.
      await expect
        .poll(() => page.getByLabel('Password').getAttribute('aria-invalid'), SETTLE)
        .toBe('true')
      await step('register with a weak password')

      await page.getByLabel('Password').fill(PASSWORD)
      await page.getByRole('button', { name: 'Create account' }).click()
      await page.waitForURL('**/login?**')
      await page.getByRole('status').filter({ hasText: 'Your account is ready' }).waitFor()
      await step('registered')

      await page.getByLabel('Username').fill('grace')
      await page.getByLabel('Password').fill(PASSWORD)
      await readmeShot('login')
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.waitForURL(`${site.url}/app`)
      await page.getByText('No todos yet').waitFor()
      await step('empty board')

      await addTodo(page, 'Buy milk', '2030-01-05')
      await addTodo(page, 'Write the report', '2030-01-02')
      await addTodo(page, 'Call Alice')
      expect(await titles(page)).toHaveLength(3)
      await step('three todos')

      // Due date, soonest first is the default.
      const dated = (list: string[]) => list.filter((title) => title !== 'Call Alice')
      expect(dated(await titles(page))).toEqual(['Write the report', 'Buy milk'])
      await page.getByLabel('Sort by').selectOption({ label: 'Newest first' })
      await expect
        .poll(() => titles(page), SETTLE)
        .toEqual(['Call Alice', 'Write the report', 'Buy milk'])
      await step('newest first')

      await page.getByRole('button', { name: 'Edit “Buy milk”' }).click()
      const editing = page
        .getByRole('listitem')
        .filter({ has: page.getByRole('heading', { name: 'Edit “Buy milk”' }) })
      await editing.getByLabel('Title').fill('Buy oat milk')
      await editing.getByRole('button', { name: 'Save' }).click()
      await page.getByRole('heading', { level: 3, name: 'Buy oat milk' }).waitFor()
      await step('edited')

      // Only an admin may mark a todo done: the admin does, through the API.
      const mine = await site.asAdmin('GET', '/api/v1/todos?sort=created_at')
      const report = (mine.body.items as { id: string; title: string }[]).find(
        (todo) => todo.title === 'Write the report',
      )
      await site.asAdmin('PATCH', `/api/v1/todos/${report?.id}`, { done: true })
      await page.getByLabel('Show').selectOption({ label: 'Done only' })
      await expect.poll(() => titles(page), SETTLE).toEqual(['Write the report'])
      await page.getByLabel('Show').selectOption({ label: 'Open only' })
      await expect.poll(() => titles(page), SETTLE).toEqual(['Call Alice', 'Buy oat milk'])
      await step('open only')
      await page.getByLabel('Show').selectOption({ label: 'All todos' })
      await expect.poll(() => titles(page), SETTLE).toHaveLength(3)
      await readmeShot('board', { narrow: true })

      await page.getByRole('button', { name: 'Delete “Call Alice”' }).click()
      const confirm = page.getByRole('dialog', { name: 'Delete this todo?' })
      await confirm.waitFor()
      await step('confirm delete')
      await confirm.getByRole('button', { name: 'Delete' }).click()
      await page.getByRole('status').filter({ hasText: 'Deleted “Call Alice”' }).waitFor()
      expect(await titles(page)).toEqual(['Write the report', 'Buy oat milk'])
      await step('deleted')

      // First render of /app with todos on it: a first visit, and a second with the assets cached.
      recordFigures({ app: await measureFirstRender(context, site.url, '/app', TODO_ITEM) })

      await page.getByRole('button', { name: 'Sign out' }).click()
      await page.waitForURL('**/login')
      await page.getByText('You are signed out').waitFor()
      await step('signed out')
      await page.goto('/app')
      expect(new URL(page.url()).pathname).toBe('/login')
      expect(new URL(page.url()).searchParams.get('next')).toBe('/app')
    },
  )
})
