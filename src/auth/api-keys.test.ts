import { describe, expect, it } from 'vitest'
import { expectInvalidToken, expectProblem, sleep } from '../../test/auth.js'
import { bearer, buildTestApp, json, newUser } from '../../test/helpers.js'

interface NewKey {
  id: string
  name: string
  key: string
  prefix: string
  expires_at: string | null
}

describe('/api/v1/profile/api-keys', async () => {
  const { app } = await buildTestApp()
  const user = await newUser(app)

  const create = (payload: Record<string, unknown>, headers = user.headers) =>
    app.inject({ method: 'POST', url: '/api/v1/profile/api-keys', headers, payload })

  it('POST: 201 {id, name, key, prefix, expires_at}; key is gh_ + ≥128 random bits', async () => {
    const response = await create({ name: 'laptop' })
    expect(response.statusCode, response.body).toBe(201)
    const created = json<NewKey>(response)
    expect(created).toMatchObject({ name: 'laptop', expires_at: null, id: expect.any(String) })
    expect(created.key).toMatch(/^gh_[A-Za-z0-9_-]+$/)
    expect(Buffer.from(created.key.slice(3), 'base64url').length).toBeGreaterThanOrEqual(16)
    expect(created.key.startsWith(created.prefix)).toBe(true)
    expect(created.prefix.length).toBeLessThan(created.key.length / 2)
    expect(response.headers.location).toBe(`/api/v1/profile/api-keys/${created.id}`)
    const another = json<NewKey>(await create({ name: 'laptop' }))
    expect(another.key).not.toBe(created.key)
  })

  it('the key works as Authorization: Bearer gh_…, as the user', async () => {
    const { key } = json<NewKey>(await create({ name: 'ci' }))
    const response = await app.inject({ url: '/api/v1/profile', headers: bearer(key) })
    expect(response.statusCode).toBe(200)
    expect(json(response).id).toBe(user.id)
    expect((await app.inject({ url: '/api/v1/private', headers: bearer(key) })).statusCode).toBe(
      200,
    )
  })

  it('GET lists the keys without the key (shown once)', async () => {
    const created = json<NewKey>(await create({ name: 'listed' }))
    const response = await app.inject({ url: '/api/v1/profile/api-keys', headers: user.headers })
    expect(response.statusCode).toBe(200)
    expect(response.body).not.toContain(created.key)
    const items = json<{ items: Record<string, unknown>[] }>(response).items
    const listed = items.find((item) => item.id === created.id)
    expect(listed).toMatchObject({ name: 'listed', prefix: created.prefix })
    for (const item of items) {
      expect(item.key).toBeUndefined()
      expect(item.key_hash).toBeUndefined()
    }
    // Another user sees none of them.
    const stranger = await newUser(app)
    const theirs = json<{ items: unknown[] }>(
      await app.inject({ url: '/api/v1/profile/api-keys', headers: stranger.headers }),
    )
    expect(theirs.items).toEqual([])
  })

  it('DELETE stops the key at once (even right after a use); 404 for another user’s key', async () => {
    const created = json<NewKey>(await create({ name: 'doomed' }))
    expect(
      (await app.inject({ url: '/api/v1/private', headers: bearer(created.key) })).statusCode,
    ).toBe(200)
    const stranger = await newUser(app)
    expectProblem(
      await app.inject({
        method: 'DELETE',
        url: `/api/v1/profile/api-keys/${created.id}`,
        headers: stranger.headers,
      }),
      404,
    )
    expect(
      (await app.inject({ url: '/api/v1/private', headers: bearer(created.key) })).statusCode,
    ).toBe(200)
    const deleted = await app.inject({
      method: 'DELETE',
      url: `/api/v1/profile/api-keys/${created.id}`,
      headers: user.headers,
    })
    expect(deleted.statusCode).toBe(204)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: bearer(created.key) }))
    expectProblem(
      await app.inject({
        method: 'DELETE',
        url: `/api/v1/profile/api-keys/${created.id}`,
        headers: user.headers,
      }),
      404,
    )
  })

  it('an unknown gh_ key is refused', async () => {
    expectInvalidToken(
      await app.inject({ url: '/api/v1/private', headers: bearer(`gh_${'A'.repeat(43)}`) }),
    )
  })

  it('expires_at in the past is 400; not a date-time is 400; unknown field 400', async () => {
    const past = await create({
      name: 'old',
      expires_at: new Date(Date.now() - 1000).toISOString(),
    })
    const body = expectProblem(past, 400)
    expect(body.errors?.[0]?.path).toBe('body/expires_at')
    expectProblem(await create({ name: 'bad', expires_at: 'tomorrow' }), 400)
    expectProblem(await create({ name: 'x', user_id: 'someone' }), 400)
    expectProblem(await create({}), 400)
  })

  it('an expired key is refused', async () => {
    const expiresAt = new Date(Date.now() + 1200).toISOString()
    const created = json<NewKey>(await create({ name: 'short-lived', expires_at: expiresAt }))
    expect(created.expires_at).toBe(expiresAt)
    expect(
      (await app.inject({ url: '/api/v1/private', headers: bearer(created.key) })).statusCode,
    ).toBe(200)
    await sleep(Date.parse(expiresAt) - Date.now() + 100)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: bearer(created.key) }))
  })

  it('an API key created by an admin carries admin only while the user is one', async () => {
    const { loginAdmin } = await import('../../test/helpers.js')
    const admin = await loginAdmin(app)
    const promoted = await newUser(app)
    await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${promoted.id}`,
      headers: admin.headers,
      payload: { role: 'admin' },
    })
    const { key } = json<NewKey>(await create({ name: 'admin-key' }, promoted.headers))
    expect((await app.inject({ url: '/api/v1/users', headers: bearer(key) })).statusCode).toBe(200)
    await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${promoted.id}`,
      headers: admin.headers,
      payload: { role: 'user' },
    })
    expectProblem(
      await app.inject({ url: '/api/v1/users', headers: bearer(key) }),
      403,
      'Admins only',
    )
  })
})
