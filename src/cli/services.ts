import { buildServices, type Services } from '../app.js'
import { type Config, ConfigError, loadConfig } from '../core/config.js'
import { createLoggers } from '../core/logger.js'
import { CliError, EXIT } from './terminal.js'

/** The server's configuration, from the same environment (API.md §11); a bad value is usage. */
export function cliConfig(): Config {
  try {
    return loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, EXIT.usage)
    throw error
  }
}

/**
 * Runs `work` on the services the HTTP routes use (src/app.ts `buildServices`), over the
 * configured database, migrated as the server migrates it, then closes them.
 */
export async function withServices<T>(work: (services: Services) => Promise<T>): Promise<T> {
  const config = cliConfig()
  // A command's output is its own lines; the services log nothing a person needs here.
  const services = await buildServices(config, createLoggers('silent').app)
  try {
    // This process delivers no mail: a mail it queues (a new account's address) stays in the
    // outbox, which the server's delivery polls, rather than dying with this short process.
    await services.mail.stop()
    return await work(services)
  } finally {
    await services.close()
  }
}
