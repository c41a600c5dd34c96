import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

/** Debian's nginx; elsewhere the first `nginx` on PATH. */
export function nginxBinary(): string | undefined {
  if (existsSync('/usr/sbin/nginx')) return '/usr/sbin/nginx'
  try {
    return execFileSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/** The file docs/DEPLOY.md shows and operators copy. */
export const DEPLOYED_CONFIG = path.resolve(HERE, '../../deploy/nginx.conf')

/**
 * deploy/nginx.conf with only its upstream `server` lines and its `listen` line replaced, inside
 * the few main-level lines an unprivileged nginx needs (its pid, logs and temp files in `dir`).
 */
export function nginxConfig(upstreams: readonly string[], port: number, dir: string): string {
  const deployed = readFileSync(DEPLOYED_CONFIG, 'utf8')
  const servers = /^( *)server \S+:\d+( [^;]*)?;\n/gm
  const indent = servers.exec(deployed)?.[1] ?? '    '
  const options = /^ *server \S+:\d+( [^;]*)?;/m.exec(deployed)?.[1] ?? ''
  let first = true
  const http = deployed
    .replace(servers, () => {
      if (!first) return ''
      first = false
      return upstreams.map((address) => `${indent}server ${address}${options};\n`).join('')
    })
    .replace(/^( *)listen 80;/m, `$1listen 127.0.0.1:${port};`)
  if (first) throw new Error('deploy/nginx.conf has no upstream server lines')
  const temp = (name: string) => {
    const at = path.join(dir, name)
    mkdirSync(at, { recursive: true })
    return at
  }
  return `daemon off;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
${http}
}
`
}

export interface Nginx {
  readonly url: string
  stop(): Promise<void>
}

/** A port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        resolve(typeof address === 'object' && address !== null ? address.port : 0),
      )
    })
  })
}

/** nginx as a child process with its own prefix in `dir`, proxying to `upstreams`. */
export async function startNginx(upstreams: readonly string[], dir: string): Promise<Nginx> {
  const binary = nginxBinary()
  if (binary === undefined) throw new Error('nginx is not installed')
  const port = await freePort()
  const file = path.join(dir, 'nginx.conf')
  writeFileSync(file, nginxConfig(upstreams, port, dir))
  const child: ChildProcess = spawn(binary, ['-p', dir, '-e', 'stderr', '-c', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  process.once('exit', () => child.kill('SIGKILL'))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`nginx did not answer in time: ${stderr}`)
    }
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return {
    url,
    async stop() {
      if (child.exitCode === null) child.kill('SIGQUIT')
      await exited
    },
  }
}
