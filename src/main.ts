import cluster from 'node:cluster'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { type Config, ConfigError, loadConfig } from './core/config.js'
import { primeNextTick } from './core/warmup.js'

primeNextTick()

let config: Config
try {
  config = loadConfig()
} catch (error) {
  if (error instanceof ConfigError) {
    // One line naming the variable; nothing has been written yet.
    process.stderr.write(`gatehouse: ${error.message}\n`)
    process.exit(2)
  }
  throw error
}

/** Valid settings, but the service cannot start (database unreachable, data directory not writable). */
function couldNotStart(error: unknown): never {
  // One line, as for a bad value, rather than a stack trace.
  const reason = error instanceof Error ? error.message : String(error)
  process.stderr.write(`gatehouse: could not start: ${reason.split('\n')[0]}\n`)
  process.exit(1)
}

if (config.workers > 1 && cluster.isPrimary) {
  // WORKERS>1: this process forks the workers, which run this same file (src/cluster.ts).
  const { runPrimary } = await import('./cluster.js')
  await runPrimary(config, fileURLToPath(import.meta.url)).catch(couldNotStart)
} else {
  await serve(config)
}

async function serve(config: Config): Promise<void> {
  // Loaded only after the configuration is known to be good, so a bad value fails fast.
  const { buildApp } = await import('./app.js')
  const { primaryChannel } = await import('./core/primary-calls.js')
  let app: FastifyInstance
  try {
    // The web UI's build sits beside this file: dist/ui next to dist/gatehouse.js.
    app = await buildApp(config, {
      uiAssets: fileURLToPath(new URL('./ui/', import.meta.url)),
      ...(cluster.isWorker ? { primary: primaryChannel() } : {}),
    })
  } catch (error) {
    couldNotStart(error)
  }

  let closing = false
  async function shutdown(signal: string): Promise<void> {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down: no new connections, finishing in-flight requests')
    const force = setTimeout(() => {
      app.log.error('in-flight requests did not finish within 10 s; exiting')
      process.exit(1)
    }, 10_000)
    force.unref()
    await app.close()
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
  // A worker whose primary is gone: nobody restarts it or hands it connections any more.
  if (cluster.isWorker) process.on('disconnect', () => void shutdown('primary gone'))

  try {
    await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    // The port taken, the address not this machine's: one line, as any failure to start.
    await app.close().catch(() => {})
    couldNotStart(error)
  }
}
