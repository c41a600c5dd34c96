import formBody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { pageDoc } from '../core/docs.js'
import { AppError } from '../core/errors.js'
import type { SubscribersService } from '../subscribers/subscribers.service.js'
import type { UiAssets } from './assets.js'
import { escapeHtml, htmlPage, sendHtml } from './layout.js'

/** A form that POSTs back to this page's own URL, token included. */
function buttonForm(path: string, token: string, text: string, button: string): string {
  const action = `${path}?token=${encodeURIComponent(token)}`
  return `<p>${escapeHtml(text)}</p>
<form method="post" action="${escapeHtml(action)}">
<button type="submit">${escapeHtml(button)}</button>
</form>`
}

const TokenQuery = Type.Object({ token: Type.Optional(Type.String({ maxLength: 200 })) })
// The page's form sends nothing but the button; RFC 8058 clients send `List-Unsubscribe=One-Click`.
const FormBody = Type.Optional(
  Type.Object(
    {
      'List-Unsubscribe': Type.Optional(Type.String({ maxLength: 100 })),
      token: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: true },
  ),
)

/**
 * The pages mail links open. A GET only shows a button, because mail scanners follow links;
 * the button's POST changes state. A POST to the unsubscribe URL is also RFC 8058 one-click:
 * no cookie, no auth, a 200 rather than a redirect.
 */
export const pagesRoutes: FastifyPluginAsyncTypebox<{
  subscribers: SubscribersService
  assets: UiAssets
}> = async (app, { subscribers, assets }) => {
  // The UI's stylesheet and header, no script: these pages work as plain forms.
  const page = (title: string, body: string) => htmlPage(title, body, { assets: assets.page() })
  await app.register(formBody, { bodyLimit: 4096 })
  // RFC 8058 allows multipart/form-data too; the token is in the URL, so any body is ignored.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 4096 }, (_request, _body, done) =>
    done(null, undefined),
  )
  // HTML for people, not part of the API's document (`hide`).
  const schema = {
    ...pageDoc('HTML page action: confirms or unsubscribes (also RFC 8058 one-click)'),
    querystring: TokenQuery,
    body: FormBody,
  }
  const tokenOf = (query: { token?: string | undefined }, body: unknown) =>
    query.token ?? (body as { token?: string } | undefined)?.token ?? ''
  const invalid = (reply: FastifyReply) =>
    sendHtml(
      reply,
      400,
      page(
        'This link does not work',
        '<p>The link is invalid, has expired or was already used. Subscribe again to get a new one.</p>',
      ),
    )

  /**
   * One token link from a mail: GET shows a button and changes nothing (mail scanners follow
   * links); the button's POST, or an RFC 8058 one-click POST, does the change.
   */
  function tokenPage(options: {
    path: string
    act: (token: string) => Promise<unknown>
    title: string
    prompt: string
    button: string
    doneTitle: string
    doneText: string
  }): void {
    app.get(
      options.path,
      {
        schema: {
          ...pageDoc('HTML page with a button that POSTs; a GET changes nothing'),
          querystring: TokenQuery,
        },
      },
      async (request, reply) =>
        sendHtml(
          reply,
          200,
          page(
            options.title,
            buttonForm(options.path, request.query.token ?? '', options.prompt, options.button),
          ),
        ),
    )

    app.post(options.path, { schema }, async (request, reply) => {
      try {
        await options.act(tokenOf(request.query, request.body))
      } catch (error) {
        if (error instanceof AppError && error.status === 400) return invalid(reply)
        throw error
      }
      return sendHtml(reply, 200, page(options.doneTitle, `<p>${options.doneText}</p>`))
    })
  }

  tokenPage({
    path: '/subscribe/confirm',
    act: (token) => subscribers.confirm(token),
    title: 'Confirm your subscription',
    prompt: 'Press the button to confirm that you want to receive our mails.',
    button: 'Confirm subscription',
    doneTitle: 'Subscription confirmed',
    doneText: 'Thank you: you are on the list.',
  })

  tokenPage({
    path: '/unsubscribe',
    act: (token) => subscribers.unsubscribe(token),
    title: 'Unsubscribe',
    prompt: 'Press the button to stop receiving our mails.',
    button: 'Unsubscribe',
    doneTitle: 'You are unsubscribed',
    doneText: 'You will get no more mails from this list.',
  })
}
