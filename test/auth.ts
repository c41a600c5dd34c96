import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { expect } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/core/config.js'
import { onTestDatabase } from './database.js'
import { ADMIN, json } from './helpers.js'

export const BEARER_CHALLENGE = 'Bearer realm="gatehouse"'
export const BASIC_CHALLENGE = 'Basic realm="gatehouse", charset="UTF-8"'
export const INVALID_TOKEN_CHALLENGE =
  /^Bearer realm="gatehouse", error="invalid_token", error_description="[^"\r\n]+"$/

interface Problem {
  type: string
  title: string
  status: number
  detail: string
  errors?: { path: string; message: string }[]
}

/** Asserts an RFC 9457 problem with this status (and title, when given); returns the body. */
export function expectProblem(
  response: LightMyRequestResponse,
  status: number,
  title?: string,
): Problem {
  expect(response.statusCode, response.body).toBe(status)
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = json<Problem>(response)
  expect(body).toMatchObject({ status, type: expect.any(String), detail: expect.any(String) })
  if (title !== undefined) expect(body.title).toBe(title)
  return body
}

function challenges(response: LightMyRequestResponse): string[] {
  const header = response.headers['www-authenticate']
  if (header === undefined) return []
  return Array.isArray(header) ? header : [header]
}

/** 401 for a refused token: the RFC 6750 invalid_token challenge and the given title. */
export function expectInvalidToken(
  response: LightMyRequestResponse,
  title: 'Invalid token' | 'Token has expired' = 'Invalid token',
): void {
  expectProblem(response, 401, title)
  const sent = challenges(response)
  expect(sent).toHaveLength(1)
  expect(sent[0]).toMatch(INVALID_TOKEN_CHALLENGE)
}

/** 401 without credentials: both challenges. */
export function expectBothChallenges(response: LightMyRequestResponse): void {
  expectProblem(response, 401)
  expect(challenges(response).sort()).toEqual([BASIC_CHALLENGE, BEARER_CHALLENGE].sort())
}

/** 401 for wrong Basic credentials: the Basic challenge. */
export function expectBasicChallenge(response: LightMyRequestResponse): void {
  expectProblem(response, 401)
  expect(challenges(response)).toEqual([BASIC_CHALLENGE])
}

/**
 * A Gatehouse on a given data directory, so a second one can be built on the same files (in the
 * postgres run, on the same PostgreSQL database: test/database.ts).
 */
export async function buildAppAt(
  dataDir: string,
  env: Record<string, string> = {},
): Promise<FastifyInstance> {
  const config = loadConfig(
    await onTestDatabase({
      DATABASE_URL: `sqlite:${dataDir}/test.db`,
      DATA_DIR: dataDir,
      RATE_LIMIT: 'false',
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: 'silent',
      ...env,
    }),
  )
  const app = await buildApp(config, { logger: false })
  await app.ready()
  return app
}

/** Starts listening on a free local port; returns the base URL. */
export async function listen(app: FastifyInstance): Promise<string> {
  return app.listen({ port: 0, host: '127.0.0.1' })
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms))

/** Registers a user with exactly these fields; returns the response. */
export function register(
  app: FastifyInstance,
  body: Record<string, unknown>,
): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: body })
}

export function loginRaw(
  app: FastifyInstance,
  username: string,
  password: string,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { username, password },
  })
}

export function refreshRaw(
  app: FastifyInstance,
  refreshToken: string,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/api/v1/auth/refresh',
    payload: { refresh_token: refreshToken },
  })
}

export interface TokenPair {
  access_token: string
  token_type: string
  expires_in: number
  refresh_token: string
}
