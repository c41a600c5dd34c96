import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { describe, expect, it } from 'vitest'
import { expectInvalidToken, expectProblem } from '../../test/auth.js'
import { bearer, buildTestApp, newUser } from '../../test/helpers.js'
import {
  accessClaims,
  decodeJwt,
  type ForgeKey,
  forgeJwt,
  type JwtHeader,
  nowSeconds,
} from '../../test/jwt.js'

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256-0123456789'
const HS: ForgeKey = { alg: 'HS256', secret: SECRET }
const HEADER: JwtHeader = { alg: 'HS256', typ: 'at+jwt' }

const get = (app: FastifyInstance, token: string, url = '/api/v1/private') =>
  app.inject({ url, headers: bearer(token) })

describe('forged access tokens under HS256', async () => {
  const { app } = await buildTestApp({ JWT_SECRET: SECRET })
  const user = await newUser(app)
  const subject = { sub: user.id, sid: String(decodeJwt(user.accessToken).payload.sid) }

  it('control: a hand-built token with the right key and claims is accepted', async () => {
    const response = await get(app, forgeJwt(HEADER, accessClaims(subject), HS))
    expect(response.statusCode, response.body).toBe(200)
  })

  it('alg "none" is refused', async () => {
    const token = forgeJwt({ alg: 'none', typ: 'at+jwt' }, accessClaims(subject), { alg: 'none' })
    expectInvalidToken(await get(app, token))
  })

  it('another algorithm (HS512, HS384) with the right secret is refused', async () => {
    for (const alg of ['HS512', 'HS384'] as const) {
      const token = forgeJwt({ alg, typ: 'at+jwt' }, accessClaims(subject), { alg, secret: SECRET })
      expectInvalidToken(await get(app, token))
    }
  })

  it('a bad signature is refused (another secret; a tampered payload)', async () => {
    expectInvalidToken(
      await get(
        app,
        forgeJwt(HEADER, accessClaims(subject), { alg: 'HS256', secret: `${SECRET}x` }),
      ),
    )
    const [h, , s] = user.accessToken.split('.')
    const tampered = Buffer.from(
      JSON.stringify({ ...decodeJwt(user.accessToken).payload, role: 'admin' }),
    ).toString('base64url')
    expectInvalidToken(await get(app, `${h}.${tampered}.${s}`))
  })

  it('a missing exp is refused', async () => {
    expectInvalidToken(
      await get(app, forgeJwt(HEADER, accessClaims(subject, { exp: undefined }), HS)),
    )
  })

  it('a future nbf beyond the 30 s leeway is refused; within it, accepted', async () => {
    const now = nowSeconds()
    expectInvalidToken(
      await get(app, forgeJwt(HEADER, accessClaims(subject, { nbf: now + 120 }), HS)),
    )
    const near = await get(app, forgeJwt(HEADER, accessClaims(subject, { nbf: now + 10 }), HS))
    expect(near.statusCode, near.body).toBe(200)
  })

  it('a past exp beyond the 30 s leeway is refused as expired; within it, accepted', async () => {
    const now = nowSeconds()
    const expired = await get(
      app,
      forgeJwt(
        HEADER,
        accessClaims(subject, { iat: now - 1000, nbf: now - 1000, exp: now - 60 }),
        HS,
      ),
    )
    expectInvalidToken(expired, 'Token has expired')
    const withinLeeway = await get(
      app,
      forgeJwt(
        HEADER,
        accessClaims(subject, { iat: now - 890, nbf: now - 890, exp: now - 10 }),
        HS,
      ),
    )
    expect(withinLeeway.statusCode, withinLeeway.body).toBe(200)
  })

  // ACCESS_TOKEN_TTL is 900 s here: no token of ours lives longer, whatever its exp says.
  it('an exp beyond iat + ACCESS_TOKEN_TTL is refused, even with the right key', async () => {
    const now = nowSeconds()
    for (const exp of [now + 901, now + 86_400 * 365]) {
      expectInvalidToken(await get(app, forgeJwt(HEADER, accessClaims(subject, { exp }), HS)))
    }
    const exact = await get(app, forgeJwt(HEADER, accessClaims(subject, { exp: now + 900 }), HS))
    expect(exact.statusCode, exact.body).toBe(200)
  })

  it('a token older than ACCESS_TOKEN_TTL + 30 s is refused as expired, whatever its exp', async () => {
    const now = nowSeconds()
    const old = await get(
      app,
      forgeJwt(
        HEADER,
        accessClaims(subject, { iat: now - 1000, nbf: now - 1000, exp: now + 3600 }),
        HS,
      ),
    )
    expectInvalidToken(old, 'Token has expired')
    const stale = await get(
      app,
      forgeJwt(HEADER, accessClaims(subject, { iat: now - 940, nbf: now - 940, exp: now }), HS),
    )
    expectInvalidToken(stale, 'Token has expired')
  })

  it('an iat in the future beyond the 30 s leeway is refused (it would stretch the max age)', async () => {
    const now = nowSeconds()
    const later = now + 86_400
    expectInvalidToken(
      await get(
        app,
        forgeJwt(
          HEADER,
          accessClaims(subject, { iat: later, nbf: undefined, exp: later + 900 }),
          HS,
        ),
      ),
    )
    const near = await get(app, forgeJwt(HEADER, accessClaims(subject, { iat: now + 10 }), HS))
    expect(near.statusCode, near.body).toBe(200)
  })

  it('a wrong or missing iss is refused', async () => {
    expectInvalidToken(await get(app, forgeJwt(HEADER, accessClaims(subject, { iss: 'evil' }), HS)))
    expectInvalidToken(
      await get(app, forgeJwt(HEADER, accessClaims(subject, { iss: undefined }), HS)),
    )
  })

  it('a wrong or missing aud is refused', async () => {
    expectInvalidToken(
      await get(app, forgeJwt(HEADER, accessClaims(subject, { aud: 'other' }), HS)),
    )
    expectInvalidToken(
      await get(app, forgeJwt(HEADER, accessClaims(subject, { aud: ['other', 'another'] }), HS)),
    )
    expectInvalidToken(
      await get(app, forgeJwt(HEADER, accessClaims(subject, { aud: undefined }), HS)),
    )
  })

  it('another typ (JWT, none) is refused', async () => {
    for (const header of [
      { alg: 'HS256', typ: 'JWT' },
      { alg: 'HS256', typ: 'jwt' },
      { alg: 'HS256' },
      { alg: 'HS256', typ: 'at+jwt+other' },
    ]) {
      expectInvalidToken(await get(app, forgeJwt(header, accessClaims(subject), HS)))
    }
  })

  it('an unknown crit extension is refused', async () => {
    const token = forgeJwt(
      { ...HEADER, crit: ['x-gatehouse-unknown'], 'x-gatehouse-unknown': true },
      accessClaims(subject),
      HS,
    )
    expectInvalidToken(await get(app, token))
  })

  it('a jwk, jku or kid header naming an attacker key is not trusted', async () => {
    const attacker = 'attacker-secret-attacker-secret-attacker-secret'
    const attackerKey: ForgeKey = { alg: 'HS256', secret: attacker }
    const k = Buffer.from(attacker).toString('base64url')
    for (const extra of [
      { jwk: { kty: 'oct', k } },
      { jku: 'https://attacker.example/jwks.json' },
      { kid: 'attacker' },
      { x5u: 'https://attacker.example/cert.pem' },
    ]) {
      expectInvalidToken(
        await get(app, forgeJwt({ ...HEADER, ...extra }, accessClaims(subject), attackerKey)),
      )
    }
  })

  it('missing sub, sid or jti is refused', async () => {
    for (const dropped of ['sub', 'sid', 'jti']) {
      expectInvalidToken(
        await get(app, forgeJwt(HEADER, accessClaims(subject, { [dropped]: undefined }), HS)),
      )
    }
  })

  it('a revoked jti is refused (logout), also as a forged copy of the same jti', async () => {
    const session = await newUser(app)
    const { payload } = decodeJwt(session.accessToken)
    const logout = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: session.headers,
    })
    expect(logout.statusCode).toBe(204)
    expectInvalidToken(await get(app, session.accessToken))
    // Same jti, freshly signed with the right key: still refused.
    const copy = forgeJwt(HEADER, { ...payload, iat: nowSeconds() }, HS)
    expectInvalidToken(await get(app, copy))
  })

  it('the role claim is ignored: a user token claiming admin is still a user', async () => {
    const token = forgeJwt(HEADER, accessClaims({ ...subject, role: 'admin' }), HS)
    expect((await get(app, token)).statusCode).toBe(200)
    expectProblem(await get(app, token, '/api/v1/users'), 403, 'Admins only')
  })

  it('a token for a user that does not exist is refused', async () => {
    const token = forgeJwt(HEADER, accessClaims({ sub: 'no-such-user', sid: subject.sid }), HS)
    expectInvalidToken(await get(app, token))
  })
})

describe('forged access tokens under EdDSA', async () => {
  const { app, dataDir } = await buildTestApp({ JWT_ALGORITHM: 'EdDSA' })
  const user = await newUser(app)
  const subject = { sub: user.id, sid: String(decodeJwt(user.accessToken).payload.sid) }
  const ours = createPrivateKey(readFileSync(path.join(dataDir, 'jwt-ed25519.pem'), 'utf8'))
  const serverKid = String(decodeJwt(user.accessToken).header.kid)
  const attacker = generateKeyPairSync('ed25519')
  const attackerJwk = attacker.publicKey.export({ format: 'jwk' })
  const header = { alg: 'EdDSA', typ: 'at+jwt', kid: serverKid }

  it('control: a token signed with the server key is accepted', async () => {
    const token = forgeJwt(header, accessClaims(subject), { alg: 'EdDSA', privateKey: ours })
    expect((await get(app, token)).statusCode).toBe(200)
  })

  it('an attacker key in jwk, jku or kid is not trusted', async () => {
    const signed = (h: JwtHeader) =>
      forgeJwt(h, accessClaims(subject), { alg: 'EdDSA', privateKey: attacker.privateKey })
    expectInvalidToken(await get(app, signed({ ...header, jwk: attackerJwk })))
    expectInvalidToken(await get(app, signed({ ...header, kid: 'attacker', jwk: attackerJwk })))
    expectInvalidToken(await get(app, signed({ ...header, jku: 'https://attacker.example/jwks' })))
    // The server's own kid, but the attacker's signature.
    expectInvalidToken(await get(app, signed(header)))
  })

  it('HS256 signed with the public key (algorithm confusion) and alg none are refused', async () => {
    const publicPem = createPublicKey(ours).export({ format: 'pem', type: 'spki' }).toString()
    expectInvalidToken(
      await get(
        app,
        forgeJwt({ alg: 'HS256', typ: 'at+jwt' }, accessClaims(subject), {
          alg: 'HS256',
          secret: publicPem,
        }),
      ),
    )
    expectInvalidToken(
      await get(
        app,
        forgeJwt({ alg: 'none', typ: 'at+jwt' }, accessClaims(subject), { alg: 'none' }),
      ),
    )
  })

  it('expired and wrong-typ tokens are refused under EdDSA too', async () => {
    const now = nowSeconds()
    const key: ForgeKey = { alg: 'EdDSA', privateKey: ours }
    expectInvalidToken(
      await get(
        app,
        forgeJwt(header, accessClaims(subject, { iat: now - 900, exp: now - 60 }), key),
      ),
      'Token has expired',
    )
    expectInvalidToken(
      await get(app, forgeJwt({ ...header, typ: 'JWT' }, accessClaims(subject), key)),
    )
  })
})
