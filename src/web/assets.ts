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

function isManifest(value: unknown): value is Manifest {
  if (typeof value !== 'object' || value === null) return false
  const { files, imports } = value as Record<string, unknown>
  return (
    typeof files === 'object' && files !== null && typeof imports === 'object' && imports !== null
  )
}

/** The manifest and files of a build; throws when there is none or it is unreadable. */
function readBuild(directory: string): { manifest: Manifest; assets: Map<string, Asset> } {
  const manifest: unknown = JSON.parse(readFileSync(path.join(directory, 'manifest.json'), 'utf8'))
  if (!isManifest(manifest)) throw new Error('manifest.json has no files or imports')
  const assets = new Map<string, Asset>()
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
  return { manifest, assets }
}

/**
 * Reads dist/ui into memory: a few tens of KB, so serving is a map lookup, and a request can
 * only ever name a file the build wrote (no path from the URL touches the file system).
 * Without a usable build (a checkout where only tsc ran, a half-written directory) the pages
 * render without script or style rather than fail: `log` says why once.
 */
export function loadUiAssets(directory: string | undefined, log: (line: string) => void): UiAssets {
  let build: ReturnType<typeof readBuild> = {
    manifest: { files: {}, imports: {} },
    assets: new Map(),
  }
  if (directory === undefined) {
    log('web UI assets: no directory given; pages have no script')
  } else {
    try {
      build = readBuild(directory)
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      log(`web UI assets not loaded from ${directory} (${reason}); pages have no script`)
    }
  }
  const { manifest, assets } = build
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
