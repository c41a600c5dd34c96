import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { callerOf } from '../core/caller.js'
import { orNotModified, preconditionsOf, withEtag } from '../core/conditional.js'
import type { IdempotencyHooks } from '../core/idempotency.js'
import { setNextLink } from '../core/pagination.js'
import { NoContent, NotModified } from '../core/schemas.js'
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

/** This file's group of operations in the OpenAPI document. */
export const todosTag = {
  name: 'todos',
  description:
    'Todos: owners and admins write; anyone reads public ones. Keyset pages, ETags and If-Match, Idempotency-Key on create',
}

/**
 * Sends JSON the database already wrote: Fastify passes a string with a JSON type as is. Typed as
 * any reply, since the route's own type wants the object its schema describes, not its text.
 */
function sendJsonText(reply: FastifyReply, json: string | Buffer): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(json)
}

export interface TodosRoutesOptions {
  todos: TodosService
  idempotency: IdempotencyHooks
}

const DONE_ADMIN_ONLY = 'A user changed `done`: only an admin may'
const CHANGED = 'The todo has changed since it was read (If-Match)'

/** Todos: owners and admins write; anyone reads public ones. */
export const todosRoutes: FastifyPluginAsyncTypebox<TodosRoutesOptions> = async (
  app,
  { todos, idempotency },
) => {
  const tags = [todosTag.name]

  app.get(
    '/',
    {
      onRequest: app.identify,
      schema: {
        tags,
        operationId: 'listTodos',
        summary:
          "List todos: anonymous, the 5 newest public ones; a user, their own; an admin, everyone's",
        description:
          'Keyset pages (`next_cursor`, `Link: rel="next"`). Sorted by `sort` then id; todos without `due` come last in both orders. Anonymous callers always get the 5 newest public todos, newest first, and no next page: sort, order, done and limit do not apply to them, and a cursor is refused (400).',
        querystring: TodoListQuery,
        response: { 200: TodoPage },
        problems: {
          401: 'An anonymous caller named an `owner`',
          403: "A user named another user's id as `owner`",
        },
      },
    },
    async (request, reply) => {
      const page = await todos.list(request.caller?.principal ?? null, request.query)
      setNextLink(request, reply, page.next_cursor)
      return sendJsonText(reply, page.body)
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
        operationId: 'createTodo',
        summary: 'Create a todo (honours Idempotency-Key)',
        body: TodoCreate,
        response: { 201: Todo },
        problems: { 403: 'A user sent `done: true`: only an admin may' },
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
        operationId: 'getTodo',
        summary: 'One todo: its owner, an admin, or anyone when it is public',
        params: TodoParams,
        response: { 200: Todo, 304: NotModified },
      },
    },
    async (request, reply) => {
      const todo = await todos.get(request.caller?.principal ?? null, request.params.id)
      return orNotModified(request, reply, todo)
    },
  )

  app.put(
    '/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags,
        operationId: 'replaceTodo',
        summary: 'Replace a todo (owner or admin)',
        params: TodoParams,
        body: TodoReplace,
        response: { 200: Todo },
        problems: { 403: DONE_ADMIN_ONLY, 412: CHANGED },
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
        operationId: 'updateTodo',
        summary: 'Change some fields of a todo (owner or admin)',
        params: TodoParams,
        body: TodoPatch,
        response: { 200: Todo },
        problems: { 403: DONE_ADMIN_ONLY, 412: CHANGED },
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
        operationId: 'deleteTodo',
        summary: 'Delete a todo (owner or admin)',
        params: TodoParams,
        response: { 204: NoContent },
        problems: { 412: CHANGED },
      },
    },
    async (request, reply) => {
      await todos.delete(callerOf(request).principal, request.params.id, preconditionsOf(request))
      return reply.code(204).send(null)
    },
  )
}
