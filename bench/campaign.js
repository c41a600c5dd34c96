// `npm run bench -- campaign` (or `npm run bench:campaign`): a campaign to N confirmed
// subscribers (default 100,000) delivered by the real server process into a local SMTP sink.
// Reports mails per second, the server's peak RSS, and GET /api/v1/private p99 idle vs during
// the send. Needs `npm run build` first (the npm scripts do it). See BENCHMARKS.md "Campaign".
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import autocannon from 'autocannon'

const require = createRequire(import.meta.url)
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const COUNT = Number(process.env.BENCH_SUBSCRIBERS ?? 100_000)
const RATE = Number(process.env.BENCH_PROBE_RATE ?? 200)
// How long the sink takes to answer each mail (a real server takes tens of ms); 0: at once.
const SMTP_DELAY_MS = Number(process.env.BENCH_SMTP_DELAY_MS ?? 0)
const ADMIN = { username: 'benchadmin', password: 'bench admin password 1234' }

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

// The sink accepts every mail and only counts it: the server is what is measured. It runs on
// its own thread: on the probe's event loop, receiving 1,000+ mails a second delayed the
// probe's own requests and added that to the server's measured latency.
const counter = new Int32Array(new SharedArrayBuffer(4))
const sink = new Worker(
  `
  const { workerData, parentPort } = require('node:worker_threads')
  const { SMTPServer } = require(workerData.smtpServer)
  const counter = new Int32Array(workerData.counter)
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('data', () => {})
      stream.on('end', () => {
        const accept = () => {
          Atomics.add(counter, 0, 1)
          callback()
        }
        if (workerData.delay > 0) setTimeout(accept, workerData.delay)
        else accept()
      })
    },
  })
  server.on('error', () => {})
  server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.server.address().port))
  `,
  {
    eval: true,
    workerData: {
      counter: counter.buffer,
      smtpServer: require.resolve('smtp-server'),
      delay: SMTP_DELAY_MS,
    },
  },
)
const smtpPort = await new Promise((resolve) => sink.once('message', resolve))
const received = () => Atomics.load(counter, 0)

const work = mkdtempSync(path.join(tmpdir(), 'gatehouse-campaign-bench-'))
const port = await freePort()
const base = `http://127.0.0.1:${port}`
// e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the server.
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)
const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'dist/gatehouse.js')], {
  cwd: root,
  env: {
    PATH: process.env.PATH,
    PORT: String(port),
    DATABASE_URL: `sqlite:${path.join(work, 'bench.db')}`,
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    PUBLIC_URL: 'https://lists.example.org',
    RATE_LIMIT: 'false',
    LOG_LEVEL: 'warn',
    ...(process.env.MAIL_CONCURRENCY ? { MAIL_CONCURRENCY: process.env.MAIL_CONCURRENCY } : {}),
  },
  stdio: ['ignore', 'ignore', 'inherit'],
})
const cleanup = () => {
  child.kill('SIGKILL')
  void sink.terminate()
  rmSync(work, { recursive: true, force: true })
}
process.on('exit', cleanup)
let stopping = false
child.once('exit', (code, signal) => {
  if (!stopping) {
    console.error(`the server exited early (${signal ?? code})`)
    process.exit(1)
  }
})

for (;;) {
  try {
    if ((await fetch(`${base}/readyz`)).status === 200) break
  } catch {}
  await new Promise((resolve) => setTimeout(resolve, 50))
}
const login = await (
  await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  })
).json()
const auth = { authorization: `Bearer ${login.access_token}` }

// Seed through the import endpoint: 100,000 CSV lines in one streamed request.
let started = Date.now()
const lines = (function* () {
  yield 'name,email\n'
  for (let i = 0; i < COUNT; i++) yield `Reader ${i},reader${i}@example.com\n`
})()
const body = new ReadableStream({
  pull(controller) {
    let chunk = ''
    for (let i = 0; i < 1000; i++) {
      const next = lines.next()
      if (next.done) {
        if (chunk) controller.enqueue(new TextEncoder().encode(chunk))
        controller.close()
        return
      }
      chunk += next.value
    }
    controller.enqueue(new TextEncoder().encode(chunk))
  },
})
const imported = await (
  await fetch(`${base}/api/v1/subscribers/import`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'text/csv' },
    body,
    duplex: 'half',
  })
).json()
const importSeconds = (Date.now() - started) / 1000
if (imported.created !== COUNT) throw new Error(`import: ${JSON.stringify(imported).slice(0, 300)}`)

const probe = (duration) =>
  autocannon({
    url: `${base}/api/v1/private`,
    headers: auth,
    connections: 2,
    overallRate: RATE,
    duration,
  })
const idle = await probe(5)

const campaign = await (
  await fetch(`${base}/api/v1/campaigns`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ subject: 'Benchmark', text: 'Hello from the campaign benchmark.\n' }),
  })
).json()

// VmHWM is the peak since start (the import included); VmRSS sampled during the send is the
// campaign's own peak.
const procStatus = (field) => {
  try {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
    return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024
  } catch {
    return 0
  }
}
const hwmBeforeSend = procStatus('VmHWM')
let peakRss = procStatus('VmRSS')
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, procStatus('VmRSS'))
}, 100)

started = Date.now()
await fetch(`${base}/api/v1/campaigns/${campaign.id}/send`, { method: 'POST', headers: auth })
const sendAccepted = Date.now() - started
// Probe latency in rounds while the campaign runs.
const during = []
let final
for (;;) {
  const round = await probe(2)
  final = await (await fetch(`${base}/api/v1/campaigns/${campaign.id}`, { headers: auth })).json()
  if (final.status === 'sent') break
  during.push(round)
}
const seconds = (Date.now() - started) / 1000
clearInterval(rssTimer)

const p99 = (result) => result.latency.p99
const duringP99 = during.length > 0 ? Math.max(...during.map(p99)) : Number.NaN
const result = {
  subscribers: COUNT,
  import_seconds: importSeconds,
  send_request_ms: sendAccepted,
  seconds,
  mails_per_second: Math.round(COUNT / seconds),
  received_by_sink: received(),
  sent: final.sent,
  failed: final.failed,
  peak_rss_during_send_mb: Math.round(peakRss / 1024 / 1024),
  peak_rss_before_send_mb: Math.round(hwmBeforeSend / 1024 / 1024),
  peak_rss_lifetime_mb: Math.round(procStatus('VmHWM') / 1024 / 1024),
  private_p99_idle_ms: p99(idle),
  private_p99_during_send_ms: duringP99,
  // The figure above is the worst round's p99; every round, to see one-off noise.
  private_p99_rounds_ms: during.map(p99),
  p99_ratio: Math.round((duringP99 / p99(idle)) * 10) / 10,
  probe_rate_per_second: RATE,
  smtp_delay_ms: SMTP_DELAY_MS,
}
console.log(JSON.stringify(result, null, 2))
writeFileSync(
  path.join(root, 'bench/results/campaign.json'),
  `${JSON.stringify(result, null, 2)}\n`,
)
// A graceful stop, so a profiler started with BENCH_NODE_OPTIONS writes its file.
stopping = true
const exited = new Promise((resolve) => child.once('exit', resolve))
child.kill('SIGTERM')
await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))])
process.exit(0)
