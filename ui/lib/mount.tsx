import { type FunctionComponent, render } from 'preact'

/** The signed-in user, as the page shell puts it in `data-user` (src/web/shells.routes.ts). */
export interface ShellUser {
  id: string
  username: string
  name: string
  role: 'admin' | 'user'
}

export interface PageProps {
  /** Present on the pages for signed-in users. */
  user: ShellUser | undefined
  /** The other data-* attributes of the mount point (`passwordMin`, …). */
  data: Readonly<Record<string, string | undefined>>
}

/** Renders the view the shell's `<div id="app" data-page=…>` names into it. */
export function mount(views: Record<string, FunctionComponent<PageProps>>): void {
  const element = document.getElementById('app')
  const View = element?.dataset.page === undefined ? undefined : views[element.dataset.page]
  if (element === null || View === undefined) return
  const user = element.dataset.user
  const props: PageProps = {
    user: user === undefined ? undefined : (JSON.parse(user) as ShellUser),
    data: { ...element.dataset },
  }
  render(<View {...props} />, element)
}
