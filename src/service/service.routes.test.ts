import { describe, expect, it } from 'vitest'
import { buildTestApp, json, newUser } from '../../test/helpers.js'

describe('service endpoints', async () => {
  const { app } = await buildTestApp()

  it('GET /api/v1/public answers anyone', async () => {
    const response = await app.inject({ url: '/api/v1/public' })
    expect(response.statusCode).toBe(200)
    expect(json(response)).toEqual({ message: 'This is a public page' })
    expect(response.headers['x-content-type-options']).toBe('nosniff')
    expect(response.headers['x-powered-by']).toBeUndefined()
  })

  it('GET /api/v1/private needs a user and then answers 42', async () => {
    const anonymous = await app.inject({ url: '/api/v1/private' })
    expect(anonymous.statusCode).toBe(401)
    const user = await newUser(app)
    const response = await app.inject({ url: '/api/v1/private', headers: user.headers })
    expect(response.statusCode).toBe(200)
    expect(json(response)).toEqual({ meaning_of_life: 42 })
    expect(response.headers['cache-control']).toBe('no-store')
  })

  it('GET /healthz and /readyz answer 200', async () => {
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200)
  })

  it('GET /api/v1 links to collections, docs and auth', async () => {
    const body = json<{ links: Record<string, string> }>(await app.inject({ url: '/api/v1' }))
    expect(body.links).toMatchObject({
      login: '/api/v1/auth/login',
      docs: '/docs',
      openapi: '/openapi.json',
    })
  })

  it('GET /openapi.json is OpenAPI 3.1 and lists the auth endpoints', async () => {
    const response = await app.inject({ url: '/openapi.json' })
    expect(response.statusCode).toBe(200)
    const document = json<{ openapi: string; paths: Record<string, unknown> }>(response)
    expect(document.openapi).toBe('3.1.0')
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/auth/login',
        '/api/v1/auth/register',
        '/api/v1/private',
        '/api/v1/users/{id}',
      ]),
    )
  })

  it('GET /docs is an HTML page that cannot be framed', async () => {
    const response = await app.inject({ url: '/docs/' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toMatch(/text\/html/)
    expect(String(response.headers['content-security-policy'])).toContain("frame-ancestors 'none'")
  })

  it('an unknown path is a problem+json 404, a known path with another method 405', async () => {
    const missing = await app.inject({ url: '/api/v1/nothing-here' })
    expect(missing.statusCode).toBe(404)
    expect(missing.headers['content-type']).toMatch(/application\/problem\+json/)
    const wrongMethod = await app.inject({ method: 'DELETE', url: '/api/v1/public' })
    expect(wrongMethod.statusCode).toBe(405)
    expect(wrongMethod.headers.allow).toContain('GET')
  })
})
