import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { afterAll, expect } from 'vitest'
import { type BuildOptions, buildApp } from '../src/app.js'
import { loadConfig } from '../src/core/config.js'
import type { Todo } from '../src/todos/todos.schemas.js'
import { onTestDatabase } from './database.js'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

/** The web UI as test/global-setup.ts built it. */
export const UI_ASSETS = path.resolve(HERE, '../dist/ui')

export const ADMIN = { username: 'root', password: 'admin-password-for-tests' }
export const PASSWORD = 'a perfectly fine test password'

export interface TestApp {
  app: FastifyInstance
  dataDir: string
}

/**
 * A fresh Gatehouse on its own SQLite file in a temporary directory (in the postgres run, its
 * own PostgreSQL database: test/database.ts), with a bootstrap admin. Rate limits are off
 * unless a test turns them on.
 */
export async function buildTestApp(
  env: Record<string, string> = {},
  options: BuildOptions = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gatehouse-test-'))
  const config = loadConfig(
    await onTestDatabase({
      DATABASE_URL: `sqlite:${path.join(dataDir, 'test.db')}`,
      DATA_DIR: dataDir,
      RATE_LIMIT: 'false',
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: 'silent',
      ...env,
    }),
  )
  const app = await buildApp(config, { logger: false, uiAssets: UI_ASSETS, ...options })
  await app.ready()
  afterAll(async () => {
    await app.close()
    rmSync(dataDir, { recursive: true, force: true })
  })
  return { app, dataDir }
}

export function json<T = Record<string, unknown>>(response: LightMyRequestResponse): T {
  return response.json() as T
}

/**
 * Walks a list from `url` by its `Link: <…>; rel="next"` headers to the last page, checking on
 * the way that each Link carries the page's `next_cursor`, and that the last page has
 * `next_cursor: null` and no Link. Returns each page's items.
 */
export async function walkPages<Item>(
  app: FastifyInstance,
  url: string,
  headers: Record<string, string>,
): Promise<Item[][]> {
  const pages: Item[][] = []
  let next: string | undefined = url
  while (next !== undefined) {
    expect(pages.length, 'pages walked').toBeLessThan(100)
    const response: LightMyRequestResponse = await app.inject({ url: next, headers })
    expect(response.statusCode, response.body).toBe(200)
    const page = json<{ items: Item[]; next_cursor: string | null }>(response)
    expect(page).toHaveProperty('next_cursor')
    pages.push(page.items)
    const link = response.headers.link
    if (page.next_cursor === null) {
      expect(link, 'no Link on the last page').toBeUndefined()
      next = undefined
    } else {
      next = /^<([^>]+)>; rel="next"$/.exec(String(link))?.[1]
      expect(next, `Link: ${String(link)}`).toBeDefined()
      const cursor = new URL(String(next), 'http://localhost').searchParams.get('cursor')
      expect(cursor).toBe(page.next_cursor)
    }
  }
  return pages
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}

export function basic(username: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` }
}

export interface Session {
  id: string
  username: string
  accessToken: string
  refreshToken: string
  headers: Record<string, string>
}

export async function login(
  app: FastifyInstance,
  username: string,
  password: string,
): Promise<Session> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username, password },
  })
  if (response.statusCode !== 200)
    throw new Error(`login ${username}: ${response.statusCode} ${response.body}`)
  const tokens = json<{ access_token: string; refresh_token: string }>(response)
  const profile = await app.inject({ url: '/api/v1/profile', headers: bearer(tokens.access_token) })
  return {
    id: json<{ id: string }>(profile).id,
    username,
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    headers: bearer(tokens.access_token),
  }
}

let counter = 0
/** Registers a new user with a unique name and logs in. */
export async function newUser(app: FastifyInstance, prefix = 'user'): Promise<Session> {
  counter += 1
  const username = `${prefix}${process.pid}x${counter}`.slice(0, 32)
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: { username, password: PASSWORD, name: `Test ${username}` },
  })
  if (response.statusCode !== 201)
    throw new Error(`register: ${response.statusCode} ${response.body}`)
  return login(app, username, PASSWORD)
}

export function loginAdmin(app: FastifyInstance): Promise<Session> {
  return login(app, ADMIN.username, ADMIN.password)
}

/** Creates a todo as `session` and expects 201. */
export async function createTodo(
  app: FastifyInstance,
  session: Session,
  body: Record<string, unknown>,
): Promise<Todo> {
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/todos',
    headers: session.headers,
    payload: body,
  })
  expect(response.statusCode, response.body).toBe(201)
  return json<Todo>(response)
}
