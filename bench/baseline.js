// The baseline: what a careful hand-written server does for the same requests, with bare
// node:http, node:crypto, better-sqlite3 and @node-rs/argon2 — no framework, no validation
// library; the same one-line-per-request log as Gatehouse. Gatehouse is measured against this.
//
// Env: PORT, DATABASE (SQLite file already migrated by Gatehouse), JWT_SECRET.
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { writeSync } from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import { verify } from '@node-rs/argon2'
import SQLite from 'better-sqlite3'

const PORT = Number(process.env.PORT ?? 3100)
const secret = Buffer.from(process.env.JWT_SECRET ?? '', 'utf8')
const ACCESS_TTL = Number(process.env.ACCESS_TOKEN_TTL ?? 900)
const REFRESH_TTL = 2_592_000
// argon2id verification reads its parameters from the stored hash, which Gatehouse's
// hashPassword made (19 MiB, t=2, p=1): the same cost per login as Gatehouse's.

const db = new SQLite(process.env.DATABASE, { timeout: 10_000 })
db.pragma('journal_mode = WAL')
db.pragma('synchronous = NORMAL')
db.pragma('foreign_keys = ON')

const userById = db.prepare(
  'select id, username, name, role, disabled, password_changed_at from users where id = ?',
)
const userByName = db.prepare('select * from users where username = ?')
const insertSession = db.prepare(
  'insert into sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, revoked_at) values (?, ?, ?, ?, ?, ?, null)',
)
const insertRefresh = db.prepare(
  'insert into refresh_tokens (id, session_id, token_hash, created_at, used_at) values (?, ?, ?, ?, null)',
)
const insertAudit = db.prepare(
  'insert into audit_events (id, at, kind, actor_id, detail) values (?, ?, ?, ?, ?)',
)
const createSession = db.transaction((session, refresh) => {
  insertSession.run(...session)
  insertRefresh.run(...refresh)
})

const hasTodos =
  db.prepare("select 1 from sqlite_master where type = 'table' and name = 'todos'").get() !==
  undefined
// The default list order of the contract: `due` ascending, id as the tie-breaker (keyset). The
// todos migration keys it as (due_null, due_key, id) so that a null due sorts last; the first
// page is the range due_null = 0 (a short one would go on into due_null = 1).
const todoColumns = hasTodos
  ? new Set(
      db
        .prepare('pragma table_info(todos)')
        .all()
        .map((c) => c.name),
    )
  : new Set()
const keyed = todoColumns.has('due_null') && todoColumns.has('due_key')
const todosPage = hasTodos
  ? db.prepare(
      keyed
        ? 'select * from todos where owner_id = ? and due_null = 0 order by due_key asc, id asc limit ?'
        : 'select * from todos where owner_id = ? order by due asc, id asc limit ?',
    )
  : undefined
const todosNullDue = keyed
  ? db.prepare(
      'select * from todos where owner_id = ? and due_null = 1 order by due_key asc, id asc limit ?',
    )
  : undefined
const cursorOf = (row) =>
  keyed ? ['due.asc', row.due_null, row.due_key, row.id] : ['due.asc', row.due, row.id]

const JSON_TYPE = 'application/json; charset=utf-8'
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8'
const PUBLIC_BODY = JSON.stringify({ message: 'This is a public page' })
const PRIVATE_BODY = JSON.stringify({ meaning_of_life: 42 })

function send(res, status, body, type = JSON_TYPE, extra) {
  res.statusCode = status
  res.setHeader('content-type', type)
  res.setHeader('content-length', Buffer.byteLength(body))
  res.setHeader('x-content-type-options', 'nosniff')
  res.setHeader('referrer-policy', 'no-referrer')
  if (extra !== undefined) for (const [k, v] of Object.entries(extra)) res.setHeader(k, v)
  res.end(body)
}

function problem(res, status, title, detail, challenge) {
  send(
    res,
    status,
    JSON.stringify({ type: 'about:blank', title, status, detail }),
    PROBLEM_TYPE,
    challenge === undefined ? undefined : { 'www-authenticate': challenge },
  )
}

// ---- HS256 access tokens, verified by hand --------------------------------------------------

function b64json(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
}

function verifyToken(token) {
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  if (first < 0 || second < 0 || token.indexOf('.', second + 1) >= 0) return undefined
  let header
  let payload
  try {
    header = b64json(token.slice(0, first))
    payload = b64json(token.slice(first + 1, second))
  } catch {
    return undefined
  }
  if (header.alg !== 'HS256' || header.typ !== 'at+jwt' || header.crit !== undefined)
    return undefined
  const expected = createHmac('sha256', secret).update(token.slice(0, second)).digest()
  const given = Buffer.from(token.slice(second + 1), 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
  const now = Date.now() / 1000
  if (typeof payload.exp !== 'number' || payload.exp + 30 < now) return undefined
  if (typeof payload.nbf === 'number' && payload.nbf - 30 > now) return undefined
  if (payload.iss !== 'gatehouse' || payload.aud !== 'gatehouse') return undefined
  if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') return undefined
  if (typeof payload.jti !== 'string') return undefined
  return payload
}

function signToken(claims) {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'at+jwt' })).toString('base64url')
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url')
  const signature = createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url')
  return `${header}.${body}.${signature}`
}

// ---- Basic credentials: a cache of verified ones, as Gatehouse keeps ------------------------

const credentialKey = randomBytes(32)
const credentials = new Map()
const credentialDigest = (u, p) =>
  createHmac('sha256', credentialKey).update(u).update('\0').update(p).digest('base64url')

async function basicUser(encoded) {
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  const username = decoded.slice(0, colon)
  const password = decoded.slice(colon + 1)
  const digest = credentialDigest(username, password)
  const known = credentials.get(digest)
  if (known !== undefined) {
    const user = userById.get(known.id)
    if (user !== undefined && user.password_changed_at === known.changed) return user
  }
  const row = userByName.get(username)
  if (row === undefined) return undefined
  if (!(await verify(row.password_hash, password.normalize('NFKC')).catch(() => false)))
    return undefined
  if (credentials.size >= 10_000) credentials.clear()
  credentials.set(digest, { id: row.id, changed: row.password_changed_at })
  return row
}

/** The user behind the Authorization header, or undefined. Role/disabled are read per request. */
async function caller(req) {
  const header = req.headers.authorization
  if (header === undefined) return undefined
  const space = header.indexOf(' ')
  if (space < 0) return undefined
  const scheme = header.slice(0, space).toLowerCase()
  const value = header.slice(space + 1).trim()
  if (scheme === 'bearer' || scheme === 'jwt') {
    const claims = verifyToken(value)
    if (claims === undefined) return undefined
    const user = userById.get(claims.sub)
    return user === undefined || user.disabled === 1 ? undefined : user
  }
  if (scheme === 'basic') {
    const user = await basicUser(value)
    return user === undefined || user.disabled === 1 ? undefined : user
  }
  return undefined
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    req.on('data', (chunk) => {
      size += chunk.length
      if (size > 65_536) reject(new Error('too large'))
      else chunks.push(chunk)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

const cursorSign = (payload) =>
  createHmac('sha256', secret).update('cursor:').update(payload).digest().subarray(0, 16)

const toTodo = (row) => ({
  id: row.id,
  title: row.title,
  description: row.description,
  done: row.done === 1,
  due: row.due,
  public: row.public === 1,
  owner_id: row.owner_id,
  created_at: row.created_at,
  updated_at: row.updated_at,
})

const CHALLENGE = 'Bearer realm="gatehouse", Basic realm="gatehouse", charset="UTF-8"'

async function handle(req, res) {
  const q = req.url.indexOf('?')
  const path = q < 0 ? req.url : req.url.slice(0, q)
  if (req.method === 'GET' && path === '/api/v1/public') return send(res, 200, PUBLIC_BODY)
  if (req.method === 'GET' && path === '/readyz') return send(res, 200, '{"status":"ready"}')
  if (req.method === 'GET' && path === '/api/v1/private') {
    const user = await caller(req)
    if (user === undefined)
      return problem(res, 401, 'Unauthorized', 'Authentication is required', CHALLENGE)
    return send(res, 200, PRIVATE_BODY, JSON_TYPE, { 'cache-control': 'no-store' })
  }
  if (req.method === 'POST' && path === '/api/v1/auth/login') {
    if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
      return problem(res, 415, 'Unsupported media type', 'JSON only')
    let body
    try {
      body = JSON.parse(await readBody(req))
    } catch {
      return problem(res, 400, 'Bad request', 'Malformed JSON')
    }
    if (
      typeof body !== 'object' ||
      body === null ||
      typeof body.username !== 'string' ||
      typeof body.password !== 'string' ||
      Object.keys(body).length !== 2
    )
      return problem(res, 400, 'Validation failed', 'username and password are required')
    const row = userByName.get(body.username)
    const ok =
      row !== undefined &&
      (await verify(row.password_hash, body.password.normalize('NFKC')).catch(() => false))
    if (!ok || row.disabled === 1) {
      insertAudit.run(
        randomUUID(),
        new Date().toISOString(),
        'login.failure',
        row?.id ?? null,
        '{}',
      )
      return problem(res, 401, 'Invalid username or password', 'Invalid username or password')
    }
    const now = new Date()
    const iso = now.toISOString()
    const refresh = randomBytes(32).toString('base64url')
    const sessionId = randomUUID()
    createSession(
      [
        sessionId,
        row.id,
        iso,
        iso,
        new Date(now.getTime() + REFRESH_TTL * 1000).toISOString(),
        req.headers['user-agent'] ?? null,
      ],
      [randomUUID(), sessionId, createHash('sha256').update(refresh).digest('base64url'), iso],
    )
    insertAudit.run(
      randomUUID(),
      iso,
      'login.success',
      row.id,
      JSON.stringify({ ip: req.socket.remoteAddress, session_id: sessionId }),
    )
    const t = Math.floor(now.getTime() / 1000)
    const access = signToken({
      sub: row.id,
      sid: sessionId,
      jti: randomUUID(),
      role: row.role,
      iat: t,
      nbf: t,
      exp: t + ACCESS_TTL,
      iss: 'gatehouse',
      aud: 'gatehouse',
    })
    return send(
      res,
      200,
      JSON.stringify({
        access_token: access,
        token_type: 'Bearer',
        expires_in: ACCESS_TTL,
        refresh_token: refresh,
      }),
      JSON_TYPE,
      { 'cache-control': 'no-store', pragma: 'no-cache' },
    )
  }
  if (req.method === 'GET' && path === '/api/v1/todos' && todosPage !== undefined) {
    const user = await caller(req)
    if (user === undefined)
      return problem(res, 401, 'Unauthorized', 'Authentication is required', CHALLENGE)
    const params = new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1))
    const limit = Number(params.get('limit') ?? 20)
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      return problem(res, 400, 'Validation failed', 'limit must be 1–100')
    const rows = todosPage.all(user.id, limit + 1)
    if (rows.length <= limit && todosNullDue !== undefined)
      rows.push(...todosNullDue.all(user.id, limit + 1 - rows.length))
    const more = rows.length > limit
    const kept = more ? rows.slice(0, limit) : rows
    let next = null
    if (more) {
      const last = kept[kept.length - 1]
      const payload = Buffer.from(JSON.stringify(cursorOf(last))).toString('base64url')
      next = `${payload}.${cursorSign(payload).toString('base64url')}`
    }
    const extra = { 'cache-control': 'no-store' }
    if (next !== null) extra.link = `</api/v1/todos?limit=${limit}&cursor=${next}>; rel="next"`
    return send(
      res,
      200,
      JSON.stringify({ items: kept.map(toTodo), next_cursor: next }),
      JSON_TYPE,
      extra,
    )
  }
  return problem(res, 404, 'Not found', `No route for ${req.method} ${path}`)
}

// One JSON line per request with Gatehouse's fields, as the contract asks of a server and as
// Gatehouse writes by default; BASELINE_LOG=0 turns it off. Written as Gatehouse's destination
// does: one synchronous write(2) a line.
const logRequests = process.env.BASELINE_LOG !== '0'
const hostname = os.hostname()
let requestCount = 0

const server = http.createServer((req, res) => {
  if (logRequests) {
    const started = performance.now()
    const reqId = `req-${++requestCount}`
    res.on('finish', () => {
      const line = JSON.stringify({
        level: 30,
        time: Date.now(),
        pid: process.pid,
        hostname,
        reqId,
        method: req.method,
        url: req.url,
        status: res.statusCode,
        ms: Math.round((performance.now() - started) * 10) / 10,
        ip: req.socket.remoteAddress,
        msg: 'request',
      })
      writeSync(1, `${line}\n`)
    })
  }
  handle(req, res).catch((error) => {
    process.stderr.write(`baseline: ${error.stack}\n`)
    if (!res.headersSent) problem(res, 500, 'Internal error', 'Internal error')
  })
})
// Node's defaults, as Gatehouse (Fastify) keeps them: keep-alive on.
server.keepAliveTimeout = 72_000
server.listen(PORT, '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
