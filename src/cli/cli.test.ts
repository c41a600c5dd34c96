import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { CLI, gatehouse, jsonLines } from '../../test/cli.js'
import { onTestDatabase } from '../../test/database.js'
import { removeDir, sleep, tempDir } from '../../test/process.js'

// Node before 20.11 has no `dirname` on import.meta.
const HERE = path.dirname(fileURLToPath(import.meta.url))

const PASSWORD = 'correct horse battery staple'

interface UserJson {
  id: string
  username: string
  name: string
  email: string | null
  role: 'admin' | 'user'
  disabled: boolean
}

/** Each command of the table in API.md §11 that this file runs, for --help. */
const COMMANDS = [
  [],
  ['serve'],
  ['migrate'],
  ['backup'],
  ['restore'],
  ['user'],
  ['user', 'create'],
  ['user', 'list'],
  ['user', 'show'],
  ['user', 'set-role'],
  ['user', 'disable'],
  ['user', 'enable'],
  ['user', 'set-password'],
  ['user', 'reset-mfa'],
  ['subscribers'],
  ['subscribers', 'import'],
  ['subscribers', 'export'],
  ['keys'],
  ['keys', 'rotate'],
]

/** One line on stderr, naming the command, and nothing else. */
function expectOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.split('\n').filter((line) => line !== '')
  expect(lines, stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^gatehouse: /)
  expect(lines[0]).toMatch(pattern)
  expect(stderr).not.toMatch(/\n\s+at /)
}

describe('gatehouse (the command line) on a database of its own', { timeout: 60_000 }, () => {
  const dir = tempDir('gatehouse-cli-')
  afterAll(() => removeDir(dir))
  const env = { DATABASE_URL: `sqlite:${path.join(dir, 'gatehouse.db')}`, DATA_DIR: dir }
  const run = (args: string[], input?: string) => gatehouse(args, { env, cwd: dir, input })

  it.each(COMMANDS.map((command) => [command.join(' ') || '(none)', command]))(
    '--help for %s: its usage on stdout, exit 0',
    async (_name, command) => {
      const { code, stdout } = await run([...command, '--help'])
      expect(code).toBe(0)
      expect(stdout).toMatch(new RegExp(`^Usage: gatehouse ${command.join(' ')}`))
    },
  )

  it("the package's bin runs the command (built, so without building again)", async () => {
    const root = path.resolve(HERE, '../..')
    const { bin } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      bin: Record<string, string>
    }
    expect(Object.keys(bin)).toEqual(['gatehouse'])
    const child = spawn(
      process.execPath,
      [path.join(root, bin.gatehouse ?? ''), 'user', '--help'],
      {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '' },
      },
    )
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk
    })
    expect(await new Promise((resolve) => child.on('close', resolve))).toBe(0)
    expect(out).toMatch(/^Usage: gatehouse user/)
    expect(err).toBe('')
  })

  it.each(['1', '2'])(
    'serve runs the server (WORKERS=%s), which answers and stops on SIGTERM with exit 0',
    async (workers) => {
      const child = spawn(process.execPath, [CLI, 'serve'], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          PORT: '0',
          WORKERS: workers,
          ...(await onTestDatabase(env, dir)),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
      let stdout = ''
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk
      })
      let port: string | undefined
      for (let tries = 0; port === undefined && tries < 1000; tries++) {
        port = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)?.[1]
        if (port === undefined) await sleep(20)
      }
      expect(port, stdout).toBeDefined()
      const ready = await fetch(`http://127.0.0.1:${port}/api/v1`)
      expect(ready.status).toBe(200)
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    },
  )

  it('migrate brings a new database to the latest schema and exits 0', async () => {
    const { code, stdout, stderr } = await run(['migrate'])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout).toMatch(/latest schema/)
  })

  it.each([
    [
      'no command at all',
      [],
      /^gatehouse: gatehouse needs a command: .*user.*\(gatehouse --help\)$/,
    ],
    ['an unknown command', ['frobnicate'], /gatehouse has no command 'frobnicate'/],
    ['an unknown option', ['user', 'list', '--colour'], /unknown option '--colour'/],
    ['a missing argument', ['user', 'show'], /missing required argument 'username'/],
    ['a role not in the table', ['user', 'set-role', 'alice', 'root'], /admin, user/],
    ['a group without its command', ['user'], /user needs a command: create, list/],
    ['a command the group lacks', ['subscribers', 'purge'], /has no command 'purge'/],
    ['a username the API refuses', ['user', 'create', 'A B'], /^gatehouse: username: /],
    ['an email the API refuses', ['user', 'create', 'carol', '--email', 'nope'], /email: /],
    ['too many arguments', ['user', 'list', 'extra'], /too many arguments/],
  ])('%s is bad usage: exit 2, one line on stderr', async (_name, args, pattern) => {
    const { code, stdout, stderr } = await run(args, `${PASSWORD}\n`)
    expectOneLineError(stderr, pattern)
    expect(code).toBe(2)
    expect(stdout).toBe('')
  })

  it('a bad setting in the environment is bad usage, named in one line', async () => {
    const { code, stderr } = await gatehouse(['user', 'list'], {
      env: { ...env, PORT: 'eighty' },
      cwd: dir,
    })
    expect(code).toBe(2)
    expectOneLineError(stderr, /PORT/)
  })

  it('user create reads the password from stdin; list and show find the account', async () => {
    const created = await run(
      ['user', 'create', 'alice', '--admin', '--name', 'Alice Liddell', '--email', 'a@example.com'],
      `${PASSWORD}\nignored second line\n`,
    )
    expect(created.stderr).toBe('')
    expect(created.code).toBe(0)
    expect(created.stdout).toMatch(/^created admin alice \(/)
    expect(created.stdout).not.toContain(PASSWORD)

    const plain = await run(['user', 'create', 'bob'], PASSWORD)
    expect(plain.code).toBe(0)

    const table = await run(['user', 'list'])
    expect(table.code).toBe(0)
    const lines = table.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^username\s+name\s+role\s+status\s+email/)
    expect(lines[1]).toMatch(
      /^alice\s+Alice Liddell\s+admin\s+active\s+a@example\.com \(unverified\)/,
    )
    expect(lines[2]).toMatch(/^bob\s+bob\s+user\s+active/)

    const listed = jsonLines<UserJson>((await run(['user', 'list', '--json'])).stdout)
    expect(listed.map((user) => [user.username, user.role])).toEqual([
      ['alice', 'admin'],
      ['bob', 'user'],
    ])
    const searched = await run(['user', 'list', '--json', '--search', 'lidd'])
    expect(jsonLines<UserJson>(searched.stdout).map((user) => user.username)).toEqual(['alice'])

    const shown = await run(['user', 'show', 'alice', '--json'])
    expect(shown.code).toBe(0)
    const [alice] = jsonLines<UserJson>(shown.stdout)
    expect(alice).toMatchObject({
      username: 'alice',
      name: 'Alice Liddell',
      email: 'a@example.com',
    })
    expect(alice).not.toHaveProperty('password_hash')
    expect((await run(['user', 'show', 'bob'])).stdout).toMatch(/^username.*\nbob\s+bob\s+user/)
  })

  it('a refused password or username changes nothing (exit 2 or 1, one line)', async () => {
    const weak = await run(['user', 'create', 'carol'], 'short\n')
    expect(weak.code).toBe(2)
    expectOneLineError(weak.stderr, /password: must be at least 12 characters/)
    const none = await run(['user', 'create', 'carol'], '')
    expect(none.code).toBe(2)
    expectOneLineError(none.stderr, /no password given/)
    const taken = await run(['user', 'create', 'alice'], PASSWORD)
    expect(taken.code).toBe(1)
    expectOneLineError(taken.stderr, /already taken/)
    const names = jsonLines<UserJson>((await run(['user', 'list', '--json'])).stdout)
    expect(names.map((user) => user.username)).toEqual(['alice', 'bob'])
  })

  it('set-role, disable, enable change the account; the last admin stays (exit 1)', async () => {
    expect((await run(['user', 'set-role', 'bob', 'admin'])).code).toBe(0)
    const show = async () =>
      jsonLines<UserJson>((await run(['user', 'show', 'bob', '--json'])).stdout)[0]
    expect(await show()).toMatchObject({ role: 'admin', disabled: false })
    const disabled = await run(['user', 'disable', 'bob'])
    expect(disabled.code).toBe(0)
    expect(await show()).toMatchObject({ disabled: true })
    expect((await run(['user', 'enable', 'bob'])).code).toBe(0)
    expect(await show()).toMatchObject({ disabled: false })
    expect((await run(['user', 'set-role', 'bob', 'user'])).code).toBe(0)

    const last = await run(['user', 'disable', 'alice'])
    expect(last.code).toBe(1)
    expectOneLineError(last.stderr, /last active admin/)
    const missing = await run(['user', 'disable', 'nobody'])
    expect(missing.code).toBe(1)
    expectOneLineError(missing.stderr, /no user nobody/)
  })

  it('set-password takes the new password from stdin and checks it as the API does', async () => {
    const weak = await run(['user', 'set-password', 'bob'], 'short\n')
    expect(weak.code).toBe(2)
    expectOneLineError(weak.stderr, /new_password: must be at least 12 characters/)
    const set = await run(['user', 'set-password', 'bob'], 'a brand new passphrase\n')
    expect(set.stderr).toBe('')
    expect(set.code).toBe(0)
    expect(set.stdout).toMatch(/sessions have ended/)
  })

  it('subscribers import then export round trip; bad lines are listed, known ones skipped', async () => {
    const csv = path.join(dir, 'list.csv')
    writeFileSync(
      csv,
      [
        'name,email',
        'Ann,ann@example.com',
        'Ben,ben@example.com',
        'Nobody,not-an-address',
        '"Cé, with a comma",ce@example.com',
      ].join('\n'),
    )
    const imported = await run(['subscribers', 'import', csv])
    expect(imported.code).toBe(0)
    expect(imported.stdout).toMatch(/created 3, skipped 0 known, 1 bad lines/)
    expect(imported.stderr).toMatch(/^line 4: /m)
    // Not a terminal: plain progress lines, no bar's control characters.
    expect(imported.stderr).toMatch(/^import: \d+\/\d+ bytes \(100%\)$/m)
    expect(imported.stderr).not.toContain('\u001b')

    const json = path.join(dir, 'more.json')
    writeFileSync(
      json,
      JSON.stringify([
        { name: 'Dee', email: 'dee@example.com' },
        { name: 'Ann', email: 'ANN@example.com' },
      ]),
    )
    const again = await run(['subscribers', 'import', json])
    expect(again.stdout).toMatch(/created 1, skipped 1 known, 0 bad lines/)

    const file = path.join(dir, 'out.csv')
    const exported = await run(['subscribers', 'export', file])
    expect(exported.code).toBe(0)
    expect(exported.stdout).toMatch(/exported 4 subscribers/)
    const rows = readFileSync(file, 'utf8').trimEnd().split('\n')
    expect(rows[0]).toBe('id,name,email,status,created_at,confirmed_at')
    expect(
      rows
        .slice(1)
        .map((row) => row.split(',').at(-4) ?? '')
        .sort(),
    ).toEqual(['ann@example.com', 'ben@example.com', 'ce@example.com', 'dee@example.com'])
    expect(rows.join('\n')).toContain('"Cé, with a comma"')

    const toStdout = await run(['subscribers', 'export'])
    expect(toStdout.code).toBe(0)
    expect(toStdout.stdout).toBe(`${rows.join('\n')}\n`)

    const missing = await run(['subscribers', 'import', path.join(dir, 'none.csv')])
    expect(missing.code).toBe(1)
    expectOneLineError(missing.stderr, /there is no file/)
  })
})
