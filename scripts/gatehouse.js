#!/usr/bin/env node
// The `gatehouse` command (package.json "bin"; `npx gatehouse` or `npm exec gatehouse` in a
// clone): builds when the sources changed, as `npm start` does, then runs the command line's
// bundle (dist/cli.js, from src/cli/main.ts) in this process.
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { buildIfStale, root } from './build-if-stale.js'

buildIfStale()
await import(pathToFileURL(path.join(root, 'dist', 'cli.js')).href)
