// `npm start`: builds when the sources changed (scripts/build-if-stale.js), then runs the bundle
// in this process, so a built checkout starts as fast as `node dist/gatehouse.js` plus npm's own
// start.
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { buildIfStale, root } from './build-if-stale.js'

buildIfStale()
await import(pathToFileURL(path.join(root, 'dist', 'gatehouse.js')).href)
