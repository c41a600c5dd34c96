// Draws the benchmark result as an SVG and renders it to PNG with resvg (a prebuilt binary that
// ships inside its npm package). One row per workload: Gatehouse beside the baseline, with the
// ratio and the target in green (met) or red (missed).
import { Resvg } from '@resvg/resvg-js'

const GATEHOUSE = '#2563eb'
const BASELINE = '#9ca3af'
const CEILING = '#f59e0b'
const OK = '#15803d'
const BAD = '#b91c1c'
const WIDTH = 1200
const BAR_X = 300
const BAR_W = 430

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const text = (x, y, s, attrs = '') =>
  `<text x="${x}" y="${y}" font-family="DejaVu Sans, sans-serif" ${attrs.includes('font-size') ? '' : 'font-size="15" '}${attrs}>${esc(s)}</text>`

function bars(y, entries, unit) {
  const max = Math.max(...entries.map((e) => e.value), 1e-9)
  let out = ''
  entries.forEach((entry, i) => {
    const w = Math.max(2, (entry.value / max) * BAR_W)
    const yy = y + i * 22
    out += `<rect x="${BAR_X}" y="${yy}" width="${w.toFixed(1)}" height="18" fill="${entry.color}" rx="2"/>`
    out += text(
      BAR_X + w + 6,
      yy + 14,
      `${entry.label} ${entry.value.toFixed(entry.value < 10 ? 2 : 0)} ${unit}`,
      'font-size="13" fill="#111827"',
    )
  })
  return out
}

export function svgChart(data) {
  const { results, checks, processes } = data
  const byName = Object.fromEntries(checks.map((c) => [c.name, c]))
  const parts = []
  let y = 70
  const verdict = (x, yy, check, fallback) => {
    if (check === undefined) return text(x, yy, fallback ?? '', 'fill="#6b7280"')
    return text(
      x,
      yy,
      `${check.met ? '✔' : '✘'} ${check.shown}`,
      `fill="${check.met ? OK : BAD}" font-weight="bold"`,
    )
  }
  const rows = [
    ['w1', 'W1 GET /public', 'W1 public', '≥ 0.85 of baseline'],
    ['w2', 'W2 /private Bearer', 'W2 Bearer', '≥ 0.85 of baseline'],
    ['w3', 'W3 /private Basic', 'W3 Basic / own W2', '≥ 0.5 of own W2'],
    ['w4', 'W4 POST /auth/login', 'W4 login / argon2', '≥ 0.9 of argon2 alone'],
    ['w5', 'W5 GET /todos (10k of 1M)', 'W5 todos', '≥ 0.85 of baseline'],
  ]
  parts.push(
    text(
      20,
      34,
      'Gatehouse vs a bare node:http server doing the same work — throughput (req/s, higher is better)',
      'font-size="19" font-weight="bold"',
    ),
  )
  parts.push(
    text(
      20,
      56,
      `${data.when} UTC · Node ${data.node} · ${data.duration} s per workload · server pinned to one core`,
      'font-size="13" fill="#4b5563"',
    ),
  )
  for (const [id, label, checkName, target] of rows) {
    const r = results[id]
    if (r === undefined) continue
    y += 12
    parts.push(text(20, y + 16, label, 'font-weight="bold"'))
    parts.push(text(20, y + 36, `target ${target}`, 'font-size="12" fill="#6b7280"'))
    if (r.skipped) {
      parts.push(text(BAR_X, y + 16, r.skipped, 'fill="#6b7280"'))
      y += 46
      continue
    }
    const entries = [
      { label: 'Gatehouse', value: r.gatehouse.requestsPerSecond, color: GATEHOUSE },
      { label: 'baseline', value: r.baseline.requestsPerSecond, color: BASELINE },
    ]
    if (id === 'w4' && data.argon2)
      entries.push({ label: 'argon2 alone', value: data.argon2.hashesPerSecond, color: CEILING })
    if (id === 'w3' && results.w2)
      entries.push({
        label: 'own W2',
        value: results.w2.gatehouse.requestsPerSecond,
        color: '#93c5fd',
      })
    parts.push(bars(y, entries, 'req/s'))
    parts.push(verdict(900, y + 16, byName[checkName]))
    parts.push(
      `<line x1="20" x2="${WIDTH - 20}" y1="${y + entries.length * 22 + 6}" y2="${y + entries.length * 22 + 6}" stroke="#e5e7eb"/>`,
    )
    y += entries.length * 22 + 12
  }
  if (results.w6) {
    y += 14
    parts.push(text(20, y + 16, 'W6 p99 of /private at 50 req/s', 'font-weight="bold"'))
    parts.push(
      text(20, y + 36, 'idle vs during a login storm (ms,', 'font-size="12" fill="#6b7280"'),
    )
    parts.push(
      text(20, y + 52, 'lower is better; target ≤ 3× idle)', 'font-size="12" fill="#6b7280"'),
    )
    const entries = [
      { label: 'Gatehouse idle', value: results.w6.gatehouse.idle.p99, color: '#93c5fd' },
      { label: 'Gatehouse storm', value: results.w6.gatehouse.storm.p99, color: GATEHOUSE },
      { label: 'baseline idle', value: results.w6.baseline.idle.p99, color: '#d1d5db' },
      { label: 'baseline storm', value: results.w6.baseline.storm.p99, color: BASELINE },
    ]
    parts.push(bars(y, entries, 'ms'))
    parts.push(verdict(900, y + 16, byName['W6 storm p99 / idle p99']))
    y += entries.length * 22 + 12
  }
  y += 20
  const g = processes.find((p) => p.name === 'gatehouse')
  const b = processes.find((p) => p.name === 'baseline')
  parts.push(text(20, y, 'Process', 'font-weight="bold"'))
  parts.push(
    text(
      20,
      y + 24,
      `startup: Gatehouse ${g.startupMs.toFixed(0)} ms, baseline ${b.startupMs.toFixed(0)} ms`,
      '',
    ),
  )
  parts.push(verdict(900, y + 24, byName.startup))
  parts.push(
    text(
      20,
      y + 48,
      `idle RSS (settled): Gatehouse ${g.idleRss.toFixed(0)} MB (${g.startRss.toFixed(0)} MB 1 s after ready), baseline ${b.idleRss.toFixed(0)} MB`,
      '',
    ),
  )
  parts.push(verdict(900, y + 48, byName['idle RSS']))
  parts.push(
    text(
      20,
      y + 72,
      `peak RSS: Gatehouse ${g.peakRss.toFixed(0)} MB, baseline ${b.peakRss.toFixed(0)} MB`,
      '',
    ),
  )
  parts.push(verdict(900, y + 72, byName['peak RSS']))
  const height = y + 100
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>`
}

export function renderChart(data) {
  const resvg = new Resvg(svgChart(data), {
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
    fitTo: { mode: 'zoom', value: 1.5 },
  })
  return resvg.render().asPng()
}
