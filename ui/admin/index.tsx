import { Empty } from '../lib/components.js'
import type { PageProps } from '../lib/mount.js'

// Placeholder: the admin helper fills this in (users, subscribers, campaigns, audit log).
export function AdminConsole(_props: PageProps) {
  return <Empty>The admin console is on its way.</Empty>
}
