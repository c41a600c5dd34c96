import { mount } from '../lib/mount.js'
import { AdminConsole } from './index.js'

// /admin. The console itself is in ./index.tsx.
mount({ admin: AdminConsole })
