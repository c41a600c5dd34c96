import type { FastifyInstance } from 'fastify'
import { describe, expect, it } from 'vitest'
import {
  expectBasicChallenge,
  expectInvalidToken,
  expectProblem,
  loginRaw,
  refreshRaw,
} from '../../test/auth.js'
import { basic, buildTestApp, json, loginAdmin, newUser, PASSWORD } from '../../test/helpers.js'
import { decodeJwt } from '../../test/jwt.js'

const patchUser = (
  app: FastifyInstance,
  admin: Record<string, string>,
  id: string,
  payload: Record<string, unknown>,
) => app.inject({ method: 'PATCH', url: `/api/v1/users/${id}`, headers: admin, payload })

describe('disabling and demotion take effect at once', async () => {
  const { app } = await buildTestApp()
  const admin = await loginAdmin(app)

  it('disabling: the existing access token, Basic and API key stop on the very next request', async () => {
    const user = await newUser(app)
    const key = json<{ key: string }>(
      await app.inject({
        method: 'POST',
        url: '/api/v1/profile/api-keys',
        headers: user.headers,
        payload: { name: 'ci' },
      }),
    ).key
    // Warm every cache first: token, Basic credentials, API key.
    expect((await app.inject({ url: '/api/v1/private', headers: user.headers })).statusCode).toBe(
      200,
    )
    expect(
      (await app.inject({ url: '/api/v1/private', headers: basic(user.username, PASSWORD) }))
        .statusCode,
    ).toBe(200)
    expect(
      (await app.inject({ url: '/api/v1/private', headers: { authorization: `Bearer ${key}` } }))
        .statusCode,
    ).toBe(200)

    expect((await patchUser(app, admin.headers, user.id, { disabled: true })).statusCode).toBe(200)

    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: user.headers }))
    expectBasicChallenge(
      await app.inject({ url: '/api/v1/private', headers: basic(user.username, PASSWORD) }),
    )
    expectInvalidToken(
      await app.inject({ url: '/api/v1/private', headers: { authorization: `Bearer ${key}` } }),
    )
    expectProblem(await refreshRaw(app, user.refreshToken), 401)
    const login = await loginRaw(app, user.username, PASSWORD)
    expectProblem(login, 401, 'Invalid username or password')
    // The same body as for a wrong password: disabling is not disclosed.
    expect(login.body).toBe((await loginRaw(app, user.username, 'wrong password!')).body)
  })

  it('re-enabling lets the user log in again but does not revive the old tokens', async () => {
    const user = await newUser(app)
    expect((await patchUser(app, admin.headers, user.id, { disabled: true })).statusCode).toBe(200)
    expect((await patchUser(app, admin.headers, user.id, { disabled: false })).statusCode).toBe(200)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: user.headers }))
    expectProblem(await refreshRaw(app, user.refreshToken), 401)
    expect((await loginRaw(app, user.username, PASSWORD)).statusCode).toBe(200)
    expect(
      (await app.inject({ url: '/api/v1/private', headers: basic(user.username, PASSWORD) }))
        .statusCode,
    ).toBe(200)
  })

  it('promotion and demotion: the same token gains and loses admin on the next request', async () => {
    const user = await newUser(app)
    expectProblem(
      await app.inject({ url: '/api/v1/users', headers: user.headers }),
      403,
      'Admins only',
    )
    expect((await patchUser(app, admin.headers, user.id, { role: 'admin' })).statusCode).toBe(200)
    // The token still says role "user"; the user now is an admin.
    expect(decodeJwt(user.accessToken).payload.role).toBe('user')
    expect((await app.inject({ url: '/api/v1/users', headers: user.headers })).statusCode).toBe(200)
    expect(
      (await app.inject({ url: '/api/v1/users', headers: basic(user.username, PASSWORD) }))
        .statusCode,
    ).toBe(200)

    // A token minted while admin loses admin as soon as the user is demoted.
    const adminToken = json<{ access_token: string }>(
      await loginRaw(app, user.username, PASSWORD),
    ).access_token
    expect(decodeJwt(adminToken).payload.role).toBe('admin')
    expect((await patchUser(app, admin.headers, user.id, { role: 'user' })).statusCode).toBe(200)
    expectProblem(
      await app.inject({
        url: '/api/v1/users',
        headers: { authorization: `Bearer ${adminToken}` },
      }),
      403,
      'Admins only',
    )
    expectProblem(
      await app.inject({ url: '/api/v1/users', headers: basic(user.username, PASSWORD) }),
      403,
      'Admins only',
    )
    // Still a user: ordinary endpoints work.
    expect(
      (
        await app.inject({
          url: '/api/v1/private',
          headers: { authorization: `Bearer ${adminToken}` },
        })
      ).statusCode,
    ).toBe(200)
  })

  it('a refreshed token carries the role of the user now', async () => {
    const user = await newUser(app)
    expect((await patchUser(app, admin.headers, user.id, { role: 'admin' })).statusCode).toBe(200)
    const refreshed = json<{ access_token: string }>(await refreshRaw(app, user.refreshToken))
    expect(decodeJwt(refreshed.access_token).payload.role).toBe('admin')
  })

  it('a deleted user’s token, Basic credentials and refresh token stop working', async () => {
    const user = await newUser(app)
    expect(
      (await app.inject({ url: '/api/v1/private', headers: basic(user.username, PASSWORD) }))
        .statusCode,
    ).toBe(200)
    const deleted = await app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${user.id}`,
      headers: admin.headers,
    })
    expect(deleted.statusCode).toBe(204)
    expectInvalidToken(await app.inject({ url: '/api/v1/private', headers: user.headers }))
    expectBasicChallenge(
      await app.inject({ url: '/api/v1/private', headers: basic(user.username, PASSWORD) }),
    )
    expectProblem(await refreshRaw(app, user.refreshToken), 401)
  })
})
