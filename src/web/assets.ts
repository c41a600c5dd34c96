import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { notFound } from '../core/errors.js'

/** One built file and its precompressed forms (scripts/build-ui.js writes the .br and .gz). */
interface Asset {
  readonly type: string
  readonly identity: Buffer
  readonly br?: Buffer | undefined
  readonly gzip?: Buffer | undefined
}

/** What a page shell links: the stylesheet, its entry script and the chunks to preload. */
export interface PageAssets {
  readonly stylesheet?: string | undefined
  readonly script?: string | undefined
  readonly preload: readonly string[]
}

/** The built UI (dist/ui), read once at start-up. */
export interface UiAssets {
  /** The asset under /assets/<name>, if the build has it. */
  get(name: string): Asset | undefined
  /** URLs of the stylesheet and of the entry (`public`, `app`, `admin`) a page loads. */
  page(entry?: string): PageAssets
}

interface Manifest {
  files: Record<string, string>
  imports: Record<string, string[]>
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
}

const PREFIX = '/assets/'

/**
 * Reads dist/ui into memory: a few tens of KB, so serving is a map lookup, and a request can
 * only ever name a file the build wrote (no path from the URL touches the file system).
 * Without a build (a checkout where only tsc ran) the pages render without script or style
 * rather than fail: `log` says why once.
 */
export function loadUiAssets(directory: string | undefined, log: (line: string) => void): UiAssets {
  const assets = new Map<string, Asset>()
  let manifest: Manifest = { files: {}, imports: {} }
  const manifestFile = directory === undefined ? undefined : path.join(directory, 'manifest.json')
  if (directory !== undefined && manifestFile !== undefined && existsSync(manifestFile)) {
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest
    for (const name of readdirSync(directory)) {
      const type = TYPES[path.extname(name)]
      if (type === undefined) continue
      const file = path.join(directory, name)
      const sibling = (suffix: string) =>
        existsSync(file + suffix) ? readFileSync(file + suffix) : undefined
      assets.set(name, {
        type,
        identity: readFileSync(file),
        br: sibling('.br'),
        gzip: sibling('.gz'),
      })
    }
  } else {
    log(`web UI assets not found (${manifestFile ?? 'no directory given'}): pages have no script`)
  }
  const url = (name: string | undefined) => (name === undefined ? undefined : PREFIX + name)
  return {
    get: (name) => assets.get(name),
    page(entry) {
      const script = entry === undefined ? undefined : `${entry}.js`
      return {
        stylesheet: url(manifest.files['styles.css']),
        script: url(script === undefined ? undefined : manifest.files[script]),
        preload: (script === undefined ? [] : (manifest.imports[script] ?? [])).map(
          (name) => PREFIX + name,
        ),
      }
    },
  }
}

/** The coding to send: br, then gzip, unless the client refuses it with q=0 or never names it. */
export function chooseEncoding(acceptEncoding: string | undefined): 'br' | 'gzip' | undefined {
  if (acceptEncoding === undefined) return undefined
  const accepted = new Map<string, number>()
  for (const part of acceptEncoding.toLowerCase().split(',')) {
    const [coding, ...parameters] = part.trim().split(';')
    if (coding === undefined || coding === '') continue
    const q = parameters.map((p) => p.trim()).find((p) => p.startsWith('q='))
    accepted.set(coding, q === undefined ? 1 : Number(q.slice(2)) || 0)
  }
  const weight = (coding: string) => accepted.get(coding) ?? accepted.get('*') ?? 0
  const br = weight('br')
  const gzip = weight('gzip')
  if (br > 0 && br >= gzip) return 'br'
  if (gzip > 0) return 'gzip'
  return undefined
}

/**
 * GET /assets/<file>: the built UI. Every file's name carries a hash of its content, so it
 * may be cached for a year and never revalidated; a new build has new names.
 */
export const assetRoutes: FastifyPluginAsyncTypebox<{ assets: UiAssets }> = async (
  app,
  { assets },
) => {
  app.get(
    `${PREFIX}:file`,
    { schema: { hide: true, params: Type.Object({ file: Type.String({ maxLength: 200 }) }) } },
    async (request, reply) => {
      const asset = assets.get(request.params.file)
      if (asset === undefined) throw notFound('No such asset')
      const encoding = chooseEncoding(request.headers['accept-encoding'])
      const body = encoding === 'br' ? asset.br : encoding === 'gzip' ? asset.gzip : asset.identity
      reply
        .header('content-type', asset.type)
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('vary', 'accept-encoding')
      if (body !== undefined && encoding !== undefined) {
        reply.header('content-encoding', encoding)
        return reply.send(body)
      }
      return reply.send(asset.identity)
    },
  )
}
