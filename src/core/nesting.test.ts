import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { buildTestApp, loginAdmin, newUser } from '../../test/helpers.js'

const DEPTH = 100_000
const deepArray = `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}`
const deepObject = `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`
// A deep value under a field the schema lets through (the pages' form body takes any field).
const deepField = `{"token":"x","extra":${deepArray}}`

function expectClientError(response: LightMyRequestResponse, what: string): void {
  expect(response.statusCode, `${what}: ${response.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400)
  expect(response.statusCode, what).toBeLessThan(500)
  expect(response.headers['content-type'], what).toMatch(/^application\/problem\+json/)
}

describe('deeply nested JSON is a 4xx on every route family, never a 500', async () => {
  // Large enough that 100,000 levels fit, so the nesting itself is what is refused.
  const { app } = await buildTestApp({ BODY_LIMIT: String(4 * 1024 * 1024) })
  const admin = await loginAdmin(app)
  const user = await newUser(app)

  const routes: {
    method: 'POST' | 'PUT' | 'PATCH'
    url: string
    headers: Record<string, string>
  }[] = [
    { method: 'POST', url: '/unsubscribe?token=x', headers: {} },
    { method: 'POST', url: '/subscribe/confirm?token=x', headers: {} },
    { method: 'POST', url: '/unsubscribe', headers: {} },
    { method: 'POST', url: '/api/v1/subscribers', headers: { 'idempotency-key': 'deep-sub' } },
    { method: 'POST', url: '/api/v1/subscribers', headers: admin.headers },
    { method: 'POST', url: '/api/v1/subscribers/confirm', headers: {} },
    {
      method: 'POST',
      url: '/api/v1/todos',
      headers: { ...user.headers, 'idempotency-key': 'deep-todo' },
    },
    { method: 'PATCH', url: '/api/v1/profile', headers: user.headers },
    { method: 'POST', url: '/api/v1/auth/register', headers: { 'idempotency-key': 'deep-reg' } },
    { method: 'POST', url: '/api/v1/auth/login', headers: {} },
    {
      method: 'POST',
      url: '/api/v1/campaigns',
      headers: { ...admin.headers, 'idempotency-key': 'deep-campaign' },
    },
  ]

  it.each(routes)('$method $url', async ({ method, url, headers }) => {
    for (const [name, body] of Object.entries({ deepArray, deepObject, deepField })) {
      const response = await app.inject({
        method,
        url,
        headers: { ...headers, 'content-type': 'application/json' },
        payload: body,
      })
      expectClientError(response, `${method} ${url} ${name}`)
    }
  })

  it('the refusal says why; a NUL inside a body within the limit is still found and named', async () => {
    const deep = await app.inject({
      method: 'POST',
      url: '/unsubscribe?token=x',
      headers: { 'content-type': 'application/json' },
      payload: deepField,
    })
    expect(deep.statusCode).toBe(400)
    expect(deep.json()).toMatchObject({ errors: [{ path: 'body' }] })
    expect(deep.json().detail).toMatch(/nests deeper than \d+ levels/)

    const nul = await app.inject({
      method: 'POST',
      url: '/unsubscribe?token=x',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ ok: 'fine', extra: [[[{ a: 'x', b: 'NUL\u0000' }]]] }),
    })
    expect(nul.statusCode).toBe(400)
    expect(nul.json().errors).toEqual([
      { path: 'body/extra/0/0/0/b', message: expect.stringContaining('NUL') },
    ])
  })

  it('an import with a deeply nested element reports or refuses it, never a 500', async () => {
    for (const body of [`[${deepArray}]`, `[${deepObject}]`, deepArray]) {
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/subscribers/import',
        headers: { ...admin.headers, 'content-type': 'application/json' },
        payload: body,
      })
      expect(response.statusCode, response.body.slice(0, 200)).toBeLessThan(500)
    }
  })
})
