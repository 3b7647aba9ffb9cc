/**
 * `@tierkit/invalidation/testing`: the contract suite of the `Store` this package writes, so you can check
 * your own implementation from the package you use (vitest, an optional peer of this subpath). It is the
 * suite of `@tierkit/contracts/testing`: a version-honouring Store applies a write only above the version it
 * holds (removals included), unversioned writes unconditionally, and `saveMany` all or nothing.
 *
 * ```ts
 * // users-store.contract.test.ts
 * import { testStore } from '@tierkit/invalidation/testing'
 *
 * testStore('the users table', async () => {
 *   const db = await openTestDatabase()
 *   return { store: usersStore(db), read: (key) => db.peekUser(key), close: () => db.close() }
 * })
 * ```
 *
 * @packageDocumentation
 */
export { type StoreUnderTest, testStore } from '@tierkit/contracts/testing'
