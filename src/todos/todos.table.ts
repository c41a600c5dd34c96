import type { Insertable, Selectable, Updateable } from 'kysely'

export interface TodosTable {
  id: string
  owner_id: string
  title: string
  description: string | null
  /** 0 or 1. */
  done: number
  /** As the client sent it: an RFC 3339 date or date-time, or null. */
  due: string | null
  /** 1 when `due` is null. Leads the due indexes so nulls sort last in both orders. */
  due_null: number
  /**
   * `due` as a fixed-width UTC instant (`2026-11-22T00:00:00.000Z` for a date). Without a due,
   * the id: unique, so the keyset seek among those todos is a plain range like any other.
   */
  due_key: string
  /** 0 or 1. */
  public: number
  created_at: string
  updated_at: string
}

export type TodoRow = Selectable<TodosTable>
export type NewTodoRow = Insertable<TodosTable>
export type TodoRowUpdate = Updateable<TodosTable>
