import { afterAll } from 'vitest'
import { dropTestDatabases } from './database.js'

// Registered before any hook of the test file, so it runs after all of them (vitest runs
// after-hooks as a stack): apps and servers are closed by then, and the drop ends any
// connection a test left open.
afterAll(dropTestDatabases)
