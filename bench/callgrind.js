// Instructions per request under valgrind's callgrind: a count, not a time, so it comes out the
// same run after run whatever else the machine does (within about 1 %), where CPU time per
// request moves by several per cent between rounds on a shared machine. Used by
// `npm run bench -- metrics` to tell a cost of a few per cent from noise.
//
// The server runs under callgrind with instrumentation off; each workload is warmed (the JIT
// settles), then instrumentation is switched on for exactly `measured` requests and the counts
// dumped (`callgrind_control`). Everything the process does in that window counts: the JIT's
// work, the garbage collector, the event loop.
import { execFileSync, spawn } from 'node:child_process'
import { openSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

export function hasCallgrind() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * Starts `script` under callgrind with `env` on `port`, and for each workload sends `warm`
 * requests, then `measured` counted ones; resolves with instructions per request by workload id.
 * `workloads`: a list, or a function of the server's URL that makes it (to sign in first).
 */
export async function instructionsPerRequest({
  name,
  script,
  cwd,
  env,
  port,
  workloads,
  load,
  warm,
  measured,
}) {
  const prefix = path.join(cwd, `callgrind-${name}`)
  const out = openSync(`${prefix}.log`, 'w')
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      // V8 writes and rewrites machine code: valgrind must notice, or it runs stale code.
      '--smc-check=all-non-file',
      '--instr-atstart=no',
      `--callgrind-out-file=${prefix}.out`,
      process.execPath,
      script,
    ],
    { cwd, env: { ...env, PORT: String(port) }, stdio: ['ignore', out, out] },
  )
  const url = `http://127.0.0.1:${port}`
  try {
    const started = performance.now()
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} exited: see ${prefix}.log`)
      try {
        if ((await fetch(`${url}/readyz`)).status === 200) break
      } catch {}
      await new Promise((resolve) => setTimeout(resolve, 200))
      if (performance.now() - started > 300_000) throw new Error(`${name} not ready in 300 s`)
    }
    const control = (...args) => execFileSync('callgrind_control', [...args, String(child.pid)])
    const counts = {}
    const list = typeof workloads === 'function' ? await workloads(url) : workloads
    for (const [index, workload] of list.entries()) {
      const target = { url: `${url}${workload.request.path}`, ...workload.request }
      await load({ ...target, amount: warm })
      control('--instr=on')
      const result = await load({ ...target, amount: measured })
      control('--instr=off')
      control('--dump')
      if (result.total !== measured || result.non2xx > 0)
        throw new Error(`${name} ${workload.id}: ${result.total} answers, ${result.non2xx} not 2xx`)
      counts[workload.id] = instructionsOf(prefix, index + 1) / measured
    }
    return counts
  } finally {
    child.kill('SIGTERM')
    await new Promise((resolve) => child.once('exit', resolve))
  }
}

/** The `totals:` line of the `nth` dump callgrind wrote: instructions. */
function instructionsOf(prefix, nth) {
  const directory = path.dirname(prefix)
  const dump = readdirSync(directory).find((file) => file === `${path.basename(prefix)}.out.${nth}`)
  if (dump === undefined) throw new Error(`callgrind wrote no dump ${nth} for ${prefix}`)
  const text = readFileSync(path.join(directory, dump), 'utf8')
  const line = /^totals: (\d+)/m.exec(text)
  if (line === null) throw new Error(`no totals in ${dump}`)
  return Number(line[1])
}
