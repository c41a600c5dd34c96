// The nginx part of `npm run bench -- scale`: W2 through nginx (deploy/nginx.conf) against
// direct, one instance, in the same run (bench/instances.js measures; this reports).
import { measureNginx, nginxTable } from './instances.js'

export async function run(context) {
  const result = await measureNginx({
    duration: context.duration,
    // bench/instances.js' own warm-up: one instance, no cluster to warm.
    warmup: Number(process.env.BENCH_WARMUP ?? 2),
    rounds: context.rounds,
    connections: context.connections,
    log: context.log,
  })
  return { markdown: `### W2 through nginx against direct\n\n${nginxTable(result)}`, data: result }
}
