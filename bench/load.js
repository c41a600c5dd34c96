// One load run in its own process (so the load generator never shares the server's event loop
// or core). Usage: node bench/load.js '<json options>' — prints one JSON summary line.
import autocannon from 'autocannon'

const options = JSON.parse(process.argv[2] ?? '{}')

// `randomClient`: each request comes from a new address (X-Forwarded-For, for a server that
// trusts this host as its proxy) and, with `randomBasicUser`, guesses at a made-up account.
const randomByte = () => Math.floor(Math.random() * 254) + 1
const randomAddress = () => `10.${randomByte()}.${randomByte()}.${randomByte()}`
const setupRequest =
  options.randomClient === true
    ? (request) => {
        const headers = { ...request.headers, 'x-forwarded-for': randomAddress() }
        if (options.randomBasicUser === true) {
          const user = `guess${Math.floor(Math.random() * 1e9)}`
          headers.authorization = `Basic ${Buffer.from(`${user}:wrong password guess`).toString('base64')}`
        }
        return { ...request, headers }
      }
    : undefined

const instance = autocannon({
  url: options.url,
  method: options.method ?? 'GET',
  headers: options.headers ?? {},
  body: options.body,
  ...(setupRequest === undefined ? {} : { requests: [{ setupRequest }] }),
  connections: options.connections ?? 10,
  pipelining: 1,
  duration: options.duration ?? 10,
  // Exactly this many requests instead of a duration (bench/callgrind.js).
  amount: options.amount,
  overallRate: options.rate,
  // A fixed-rate probe keeps sending on schedule; latency then includes any event-loop stall.
  timeout: 30,
})
// autocannon's own histogram keeps whole milliseconds; keep every 2xx latency at full precision.
const latencies = []
instance.on('response', (_client, statusCode, _bytes, responseTime) => {
  if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime)
})
const result = await instance
latencies.sort((a, b) => a - b)
const percentile = (p) =>
  latencies.length === 0
    ? null
    : latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]

const out = {
  requestsPerSecond: result.requests.average,
  total: result.requests.total,
  p50: percentile(50),
  p90: percentile(90),
  p99: percentile(99),
  max: latencies[latencies.length - 1] ?? null,
  non2xx: result.non2xx,
  errors: result.errors,
  timeouts: result.timeouts,
  duration: result.duration,
}
process.stdout.write(`${JSON.stringify(out)}\n`)
