import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { callerOf } from '../core/caller.js'
import { notModified, preconditionsOf, withEtag } from '../core/conditional.js'
import type { IdempotencyHooks } from '../core/idempotency.js'
import { setNextLink } from '../core/pagination.js'
import { NoContent, problemsFor, userSecurity } from '../core/schemas.js'
import {
  Todo,
  TodoCreate,
  TodoListQuery,
  TodoPage,
  TodoParams,
  TodoPatch,
  TodoReplace,
} from './todos.schemas.js'
import type { TodosService } from './todos.service.js'

export interface TodosRoutesOptions {
  todos: TodosService
  idempotency: IdempotencyHooks
}

// Reads work without credentials (public todos); the optional scheme list says so.
const optionalSecurity = [...userSecurity, {}]

/** Todos: owners and admins write; anyone reads public ones. */
export const todosRoutes: FastifyPluginAsyncTypebox<TodosRoutesOptions> = async (
  app,
  { todos, idempotency },
) => {
  const tags = ['todos']
  const security = userSecurity
  const writeProblems = problemsFor(400, 401, 403, 404, 412)

  app.get(
    '/',
    {
      onRequest: app.identify,
      schema: {
        tags,
        security: optionalSecurity,
        summary:
          "List todos: anonymous, the 5 newest public ones; a user, their own; an admin, everyone's",
        description:
          'Keyset pages (`next_cursor`, `Link: rel="next"`). Sorted by `sort` then id; todos without `due` come last in both orders. Anonymous callers always get the 5 newest public todos, newest first, and no next page: sort, order, done and limit do not apply to them, and a cursor is refused (400).',
        querystring: TodoListQuery,
        response: { 200: TodoPage, ...problemsFor(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const page = await todos.list(request.caller?.principal ?? null, request.query)
      setNextLink(request, reply, page.next_cursor)
      // Already JSON (written by the database): Fastify sends a string with a JSON type as is.
      return reply.type('application/json; charset=utf-8').send(page.body)
    },
  )

  app.post(
    '/',
    {
      onRequest: app.authenticate,
      preHandler: idempotency.preHandler,
      onSend: idempotency.onSend,
      schema: {
        tags,
        security,
        summary: 'Create a todo (honours Idempotency-Key)',
        body: TodoCreate,
        response: { 201: Todo, ...problemsFor(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const todo = await todos.create(callerOf(request).principal, request.body)
      reply.header('location', `/api/v1/todos/${todo.id}`)
      return reply.code(201).send(withEtag(reply, todo))
    },
  )

  app.get(
    '/:id',
    {
      onRequest: app.identify,
      schema: {
        tags,
        security: optionalSecurity,
        summary: 'One todo: its owner, an admin, or anyone when it is public',
        params: TodoParams,
        response: { 200: Todo, ...problemsFor(404) },
      },
    },
    async (request, reply) => {
      const todo = await todos.get(request.caller?.principal ?? null, request.params.id)
      if (notModified(request, reply, todo)) return reply
      return todo
    },
  )

  app.put(
    '/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        security,
        summary: 'Replace a todo (owner or admin)',
        params: TodoParams,
        body: TodoReplace,
        response: { 200: Todo, ...writeProblems },
      },
    },
    async (request, reply) => {
      const todo = await todos.replace(
        callerOf(request).principal,
        request.params.id,
        request.body,
        preconditionsOf(request),
      )
      return withEtag(reply, todo)
    },
  )

  app.patch(
    '/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        security,
        summary: 'Change some fields of a todo (owner or admin)',
        params: TodoParams,
        body: TodoPatch,
        response: { 200: Todo, ...writeProblems },
      },
    },
    async (request, reply) => {
      const todo = await todos.patch(
        callerOf(request).principal,
        request.params.id,
        request.body,
        preconditionsOf(request),
      )
      return withEtag(reply, todo)
    },
  )

  app.delete(
    '/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        security,
        summary: 'Delete a todo (owner or admin)',
        params: TodoParams,
        response: { 204: NoContent, ...problemsFor(401, 404, 412) },
      },
    },
    async (request, reply) => {
      await todos.delete(callerOf(request).principal, request.params.id, preconditionsOf(request))
      return reply.code(204).send(null)
    },
  )
}
