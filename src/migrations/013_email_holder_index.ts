import type { Kysely } from 'kysely'

// Registration looks for any account holding an address, verified or not (API.md §10: an
// address in use is left off the new account). The partial unique index of 008 holds verified
// addresses only, so this plain one serves that lookup; uniqueness stays among verified ones,
// as a profile change may still name an address another account has not confirmed.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('users_email_normalised_idx')
    .on('users')
    .column('email_normalised')
    .execute()
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('users_email_normalised_idx').execute()
}
