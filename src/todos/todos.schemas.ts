import { type Static, Type } from '@sinclair/typebox'
import { PageQuery } from '../core/pagination.js'
import { DateTimeInput } from '../core/schemas.js'
import type { TodoRow } from './todos.table.js'

export const DUE_FORM =
  'must be an RFC 3339 date (2026-11-22) or date-time (2026-11-22T12:00:00Z) in years 0000–9999 UTC, or null'

/** A date-only due sorts as the start of that day in UTC. */
export const Due = Type.Union([Type.String({ format: 'date' }), DateTimeInput(), Type.Null()], {
  errorMessage: DUE_FORM,
  description:
    'RFC 3339 date or date-time (its UTC instant in years 0000–9999), returned as sent. Sorting uses the instant (a date counts as 00:00 UTC); todos without one come last in both orders',
})
const Title = Type.String({ minLength: 1, maxLength: 200 })
const Description = Type.Union([Type.String({ maxLength: 10_000 }), Type.Null()], {
  description: 'Up to 10,000 characters; null when absent',
  errorMessage: 'must be a string of at most 10,000 characters, or null',
})

export const Todo = Type.Object(
  {
    id: Type.String(),
    title: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    done: Type.Boolean(),
    due: Type.Union([Type.String(), Type.Null()]),
    public: Type.Boolean(),
    owner_id: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
  },
  { title: 'Todo', description: 'A todo' },
)
export type Todo = Static<typeof Todo>

export const TodoPage = Type.Object(
  {
    items: Type.Array(Todo),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  },
  { title: 'TodoPage' },
)

export const TodoParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) })

export const TodoListQuery = Type.Object({
  ...PageQuery,
  sort: Type.Union([Type.Literal('due'), Type.Literal('created_at')], {
    default: 'due',
    description: 'Sort key; ties are broken by id. Todos without `due` come last in both orders',
  }),
  order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' }),
  done: Type.Optional(Type.Boolean({ description: 'Only done (true) or open (false) todos' })),
  owner: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      description: "Admins: one user's todos. Others may only name themselves (403 otherwise)",
    }),
  ),
})
export type TodoListQuery = Static<typeof TodoListQuery>
export type TodoSort = TodoListQuery['sort']

/** `done` is accepted from everyone, but only an admin may change it (403). */
export const TodoCreate = Type.Object(
  {
    title: Title,
    description: Type.Optional(Description),
    due: Type.Optional(Due),
    public: Type.Optional(Type.Boolean({ default: false })),
    done: Type.Optional(Type.Boolean({ description: 'Admins only, unless false' })),
  },
  {
    title: 'TodoCreate',
    additionalProperties: false,
    examples: [{ title: 'Buy milk', description: 'Oat, two cartons', due: '2026-11-22' }],
  },
)
export type TodoCreate = Static<typeof TodoCreate>

export const TodoReplace = Type.Object(
  {
    title: Title,
    description: Type.Optional(Description),
    due: Type.Optional(Due),
    public: Type.Optional(Type.Boolean()),
    done: Type.Optional(
      Type.Boolean({ description: 'Admins only (unless unchanged); kept when absent' }),
    ),
  },
  {
    title: 'TodoReplace',
    additionalProperties: false,
    description: 'Replaces the todo: absent description, due and public go back to their defaults',
    examples: [{ title: 'Buy milk', due: '2026-11-22T18:00:00+01:00', public: true }],
  },
)
export type TodoReplace = Static<typeof TodoReplace>

export const TodoPatch = Type.Object(
  {
    title: Type.Optional(Title),
    description: Type.Optional(Description),
    due: Type.Optional(Due),
    public: Type.Optional(Type.Boolean()),
    done: Type.Optional(Type.Boolean({ description: 'Admins only (unless unchanged)' })),
  },
  {
    title: 'TodoPatch',
    additionalProperties: false,
    examples: [{ title: 'Buy oat milk' }, { due: null }],
  },
)
export type TodoPatch = Static<typeof TodoPatch>

export function toTodo(row: TodoRow): Todo {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    done: row.done === 1,
    due: row.due,
    public: row.public === 1,
    owner_id: row.owner_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
  }
}
