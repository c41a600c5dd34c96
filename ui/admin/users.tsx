import { useState } from 'preact/hooks'
import { api, call, formProblem, type User } from '../lib/api.js'
import { useConfirm, useNotice } from '../lib/components.js'
import { formatWhen } from '../lib/format.js'
import type { ShellUser } from '../lib/mount.js'
import { ListView, SearchForm } from './common.js'
import { usePagedList } from './paged.js'

/** Users: search, promote or demote, disable or enable, send a reset link, delete. */
export function UsersSection({ me }: { me: ShellUser }) {
  const [search, setSearch] = useState('')
  const [confirmDialog, confirm] = useConfirm()
  const [notice, showNotice] = useNotice()
  const list = usePagedList<User>(
    search,
    (cursor) =>
      call(
        api.GET('/api/v1/users', {
          params: {
            query: {
              limit: 20,
              ...(search === '' ? {} : { q: search }),
              ...(cursor === undefined ? {} : { cursor }),
            },
          },
        }),
      ),
    'users',
  )

  const change = async (user: User, body: { role?: 'admin' | 'user'; disabled?: boolean }) => {
    try {
      const saved = await call(
        api.PATCH('/api/v1/users/{id}', { params: { path: { id: user.id } }, body }),
      )
      list.update((items) => items.map((item) => (item.id === saved.id ? saved : item)))
      showNotice(describeChange(saved, body))
      // Demoting or disabling oneself ends one's admin pages: the next call answers 403 or 401.
      if (saved.id === me.id && (saved.role !== 'admin' || saved.disabled)) location.reload()
    } catch (error) {
      showNotice(formProblem(error).message, 'error')
    }
  }

  const setRole = async (user: User, role: 'admin' | 'user') => {
    if (
      user.id === me.id &&
      !(await confirm(
        'Stop being an admin?',
        'You will lose access to this console at once.',
        'Make me a user',
      ))
    )
      return
    await change(user, { role })
  }

  const setDisabled = async (user: User, disabled: boolean) => {
    if (
      disabled &&
      !(await confirm(
        `Disable ${user.username}?`,
        `${user.username} is signed out everywhere and their API keys stop working; enabling the account later revives none of them.`,
        'Disable',
      ))
    )
      return
    await change(user, { disabled })
  }

  // Only a verified address gets reset links (API.md §10); the button is there only for one.
  const sendResetLink = async (user: User) => {
    try {
      await call(
        api.POST('/api/v1/users/{id}/password-reset', { params: { path: { id: user.id } } }),
      )
      showNotice(`Mailed a password reset link to ${user.username}.`)
    } catch (error) {
      showNotice(formProblem(error).message, 'error')
    }
  }

  const remove = async (user: User) => {
    const sure = await confirm(
      `Delete ${user.username}?`,
      `The account ${user.username} (${user.name}) and all their todos will be deleted for good.`,
    )
    if (!sure) return
    try {
      await call(api.DELETE('/api/v1/users/{id}', { params: { path: { id: user.id } } }))
      list.update((items) => items.filter((item) => item.id !== user.id))
      showNotice(`Deleted ${user.username}.`)
      if (user.id === me.id) location.reload()
    } catch (error) {
      showNotice(formProblem(error).message, 'error')
    }
  }

  return (
    <section aria-labelledby="users-heading">
      <h2 id="users-heading">Users</h2>
      {notice}
      {confirmDialog}
      <SearchForm label="Search users" hint="Part of a username or name" onSearch={setSearch} />
      <ListView
        list={list}
        loading="Loading users…"
        empty={search === '' ? 'No users yet.' : `No user matches “${search}”.`}
        more="Show more users"
      >
        {(items) => (
          <table class="data">
            <caption class="visually-hidden">
              {search === '' ? 'Users' : `Users matching “${search}”`}
            </caption>
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((user) => (
                <tr key={user.id}>
                  <th scope="row" data-label="Username">
                    <span>
                      {user.username}
                      {user.id === me.id && <span class="badge you">you</span>}
                    </span>
                  </th>
                  <td data-label="Name">{user.name}</td>
                  <td data-label="Role">{user.role === 'admin' ? 'Admin' : 'User'}</td>
                  <td data-label="Status">{user.disabled ? 'Disabled' : 'Active'}</td>
                  <td data-label="Created">{formatWhen(user.created_at)}</td>
                  <td data-label="Actions">
                    <div class="row-actions">
                      {user.role === 'admin' ? (
                        <button
                          type="button"
                          class="small secondary"
                          aria-label={`Make ${user.username} a user`}
                          onClick={() => void setRole(user, 'user')}
                        >
                          Make user
                        </button>
                      ) : (
                        <button
                          type="button"
                          class="small secondary"
                          aria-label={`Make ${user.username} an admin`}
                          onClick={() => void setRole(user, 'admin')}
                        >
                          Make admin
                        </button>
                      )}
                      <button
                        type="button"
                        class="small secondary"
                        aria-label={`${user.disabled ? 'Enable' : 'Disable'} ${user.username}`}
                        onClick={() => void setDisabled(user, !user.disabled)}
                      >
                        {user.disabled ? 'Enable' : 'Disable'}
                      </button>
                      {user.email_verified && (
                        <button
                          type="button"
                          class="small secondary"
                          aria-label={`Send ${user.username} a password reset link`}
                          onClick={() => void sendResetLink(user)}
                        >
                          Send reset link
                        </button>
                      )}
                      <button
                        type="button"
                        class="small danger"
                        aria-label={`Delete ${user.username}`}
                        onClick={() => void remove(user)}
                      >
                        Delete
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </ListView>
    </section>
  )
}

function describeChange(user: User, body: { role?: 'admin' | 'user'; disabled?: boolean }) {
  if (body.role !== undefined) {
    return user.role === 'admin'
      ? `${user.username} is now an admin.`
      : `${user.username} is now a user.`
  }
  return user.disabled ? `${user.username} is disabled.` : `${user.username} is enabled again.`
}
