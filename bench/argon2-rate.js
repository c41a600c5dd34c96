// How many argon2id verifications a second this core allows at Gatehouse's parameters: the
// ceiling for login throughput. Run pinned to the server's core; prints one JSON line.
import { availableParallelism } from 'node:os'
import { hash, verify } from '@node-rs/argon2'

const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 }
const seconds = Number(process.argv[2] ?? 5)
const password = 'correct-horse-battery-bench'
const stored = await hash(password, ARGON2)
for (let i = 0; i < 4; i++) await verify(stored, password)

/** Verifications a second with `concurrency` of them in flight on the libuv pool. */
async function rate(concurrency) {
  let done = 0
  const until = performance.now() + seconds * 1000
  async function worker() {
    while (performance.now() < until) {
      await verify(stored, password)
      done++
    }
  }
  const started = performance.now()
  const cpuBefore = process.cpuUsage()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const elapsed = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  return {
    hashesPerSecond: done / elapsed,
    msPerHash: (elapsed * 1000) / done,
    // CPU per hash (all threads): undisturbed by other work sharing the core.
    cpuMsPerHash: (cpu.user + cpu.system) / 1000 / done,
    concurrency,
  }
}

// The ceiling is the best this core does: one hash per core it may use (each 19 MiB hash keeps
// its own memory in cache), or as many as the libuv pool runs at once (4 by default), whichever
// is faster here. Both rates are printed.
const perCore = await rate(availableParallelism())
const pool = await rate(Number(process.env.UV_THREADPOOL_SIZE ?? 4))
const best = perCore.hashesPerSecond >= pool.hashesPerSecond ? perCore : pool
process.stdout.write(`${JSON.stringify({ ...best, rates: [perCore, pool] })}\n`)
