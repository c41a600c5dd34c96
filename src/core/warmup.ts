/**
 * Lets V8 compile `process.nextTick` before the first request. Node's HTTP and stream code
 * calls it about nine times a request, and it builds each queued tick as an object literal
 * with computed (symbol) keys. Left to warm up under the first requests, V8 sometimes compiled
 * it so that those keys stayed a runtime call (perf: `Runtime_DefineKeyedOwnPropertyInLiteral`
 * under `processTicksAndRejections`), and the process then stayed ~25 % slower on small
 * requests for its whole life: 9 of 16 starts measured `GET /api/v1/public` at 23–25 µs of CPU
 * instead of 18–20. With these calls first, 14 of 14 starts measured 18–20 µs
 * (BENCHMARKS.md, session 8). A few thousand no-op ticks cost about a millisecond.
 */
export function primeNextTick(calls = 5_000): void {
  const noop = () => {}
  for (let i = 0; i < calls; i++) process.nextTick(noop)
}
