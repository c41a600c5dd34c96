// How many argon2id verifications a second this core allows at Gatehouse's parameters: the
// ceiling for login throughput. Run pinned to the server's core; prints one JSON line.
import { hash, verify } from '@node-rs/argon2'

const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 }
const seconds = Number(process.argv[2] ?? 5)
// As many in flight as the libuv pool has threads, as a server under a login storm has.
const concurrency = Number(process.env.UV_THREADPOOL_SIZE ?? 4)

const stored = await hash('correct-horse-battery-bench', ARGON2)
for (let i = 0; i < 4; i++) await verify(stored, 'correct-horse-battery-bench')

let done = 0
const until = performance.now() + seconds * 1000
async function worker() {
  while (performance.now() < until) {
    await verify(stored, 'correct-horse-battery-bench')
    done++
  }
}
const started = performance.now()
const cpuBefore = process.cpuUsage()
await Promise.all(Array.from({ length: concurrency }, worker))
const elapsed = (performance.now() - started) / 1000
const cpu = process.cpuUsage(cpuBefore)
process.stdout.write(
  `${JSON.stringify({
    hashesPerSecond: done / elapsed,
    msPerHash: (elapsed * 1000) / done,
    // CPU per hash (all threads): undisturbed by other work sharing the core.
    cpuMsPerHash: (cpu.user + cpu.system) / 1000 / done,
    concurrency,
  })}\n`,
)
