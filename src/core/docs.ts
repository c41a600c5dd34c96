import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

/**
 * Swagger UI's policy with its `frame-ancestors 'self'` replaced (browsers obey the first of
 * two, so appending would not do) and without `upgrade-insecure-requests`, which would break
 * the page when the service is reached over plain HTTP.
 */
function docsCsp(header: string): string {
  const directives = header
    .split(';')
    .map((directive) => directive.trim())
    .filter(
      (directive) =>
        directive !== '' && !/^(frame-ancestors|upgrade-insecure-requests)\b/i.test(directive),
    )
  return [...directives, "frame-ancestors 'none'"].join('; ')
}

/**
 * The OpenAPI document (`/openapi.json`), generated from the route schemas, and its reference
 * (`/docs`). Register it before the routes it documents, and after the rate limits and the
 * 404/405 handling, which its own routes get like any other.
 */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Gatehouse',
        version: '1.0.0',
        description:
          'A secured REST API: accounts, JWT, Basic and API-key authentication, todos and a double opt-in mailing list. Every error is application/problem+json (RFC 9457).',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'Access token or API key (gh_…); `JWT <token>` works too',
          },
          basic: { type: 'http', scheme: 'basic' },
        },
      },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`),
    },
  })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    transformStaticCSP: docsCsp,
    uiConfig: { url: '/openapi.json', deepLinking: true },
  })
}
