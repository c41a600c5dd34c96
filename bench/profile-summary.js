// Top self-time functions of a V8 .cpuprofile (from `node --cpu-prof`), and the same grouped
// by package. Usage: node bench/profile-summary.js file.cpuprofile [top=25]
import { readFileSync } from 'node:fs'

const [file, topArg] = process.argv.slice(2)
const profile = JSON.parse(readFileSync(file, 'utf8'))
const top = Number(topArg ?? 25)
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map()
const dt = profile.timeDeltas
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]
  self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0))
}
const total = [...self.values()].reduce((a, b) => a + b, 0)
const where = (frame) => {
  const url = frame.url.replace(/^file:\/\//, '')
  const nm = url.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/')
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]
  }
  if (url.includes('/dist/')) return `gatehouse:${url.slice(url.indexOf('/dist/') + 6)}`
  if (url.startsWith('node:')) return url
  return url === '' ? '(native)' : url.split('/').slice(-2).join('/')
}
const fns = new Map()
const pkgs = new Map()
for (const [id, us] of self) {
  const frame = byId.get(id).callFrame
  const key = `${frame.functionName || '(anonymous)'}  ${where(frame)}:${frame.lineNumber + 1}`
  fns.set(key, (fns.get(key) ?? 0) + us)
  const pkg = where(frame)
  pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us)
}
const show = (title, map, n) => {
  console.log(`\n${title} (total ${(total / 1000).toFixed(0)} ms sampled)`)
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n))
    console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`)
}
show('self time by function', fns, top)
show('self time by package', pkgs, 15)
