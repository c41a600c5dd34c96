import { campaignMailHooks } from './campaigns/campaigns.mail.js'
import { runMailThread } from './mail/mail.delivery.js'

/**
 * The mail thread's entry (dist/mail.thread.js; app.ts starts it): wiring, like main.ts, so
 * that mail/ imports no feature. The hooks are the ones app.ts gives the main thread.
 */
runMailThread(campaignMailHooks)
