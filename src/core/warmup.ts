import { createHook } from 'node:async_hooks'

/** One queued tick, held for the life of the process (see `primeNextTick`). */
let keptTick: object | undefined

/**
 * Keeps `process.nextTick` in its fast form for the life of the process. Node's HTTP and stream
 * code calls it about nine times a request, and it builds each queued tick as an object literal
 * with computed (symbol) keys. When V8 compiled it under live requests, the keys sometimes
 * stayed a runtime call (perf: `Runtime_DefineKeyedOwnPropertyInLiteral` under
 * `processTicksAndRejections`) and `GET /api/v1/public` cost 22–25 µs of CPU instead of 18–20
 * until the process ended (BENCHMARKS.md, session 8). Two things keep it fast:
 * - calling it a few thousand times before the first request, so it is compiled then (about a
 *   millisecond): 9 of 16 starts were slow without it, 0 of 20 with it;
 * - holding one tick object, so its hidden class and the transitions leading to it survive the
 *   full collections V8 runs when the process idles. Without it, the first load after 45 idle
 *   seconds re-learned the shape under requests and ran slow again (22 µs in 4 of 4 runs; 18–19
 *   µs in 3 of 3 with it). The object is caught with an async hook enabled for that one call.
 */
export function primeNextTick(calls = 5_000): void {
  const noop = () => {}
  for (let i = 0; i < calls; i++) process.nextTick(noop)
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject' && keptTick === undefined) keptTick = resource
    },
  })
  hook.enable()
  process.nextTick(noop)
  hook.disable()
}
