// TEMPORARY (ui-core helper, until "Cookie sessions:" lands on main): the lead's auth plugin
// decorates `app.pageCaller` and `request.csrfToken`. This stand-in says "nobody is signed in"
// so the page shells and their guards can be built and tested against the interface. Delete
// this file and its import in app.ts when merging main.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Caller } from '../core/caller.js'

declare module 'fastify' {
  interface FastifyInstance {
    pageCaller(request: FastifyRequest): Promise<Caller | null>
  }
  interface FastifyRequest {
    csrfToken: string | undefined
  }
}

export function stubPageCaller(app: FastifyInstance): void {
  if (app.hasDecorator('pageCaller')) return
  app.decorate('pageCaller', async () => null)
  app.decorateRequest('csrfToken', undefined)
}
