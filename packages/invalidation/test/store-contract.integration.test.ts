/**
 * `@tierkit/invalidation/testing`: the Store contract suite, run from the package a user has, against this
 * package's own test Stores (in memory) and a real PostgreSQL table (the Store the loss tests and the
 * benchmark use). The suite is `@tierkit/contracts/testing`'s `testStore`, re-exported.
 */
import type { Store, StoreWrite, WriteContext } from '../src/index.js'
import { testStore } from '../src/testing.js'
import { BatchMemoryStore, MemoryStore } from './helpers/memory-store.js'
import { PgStore } from './helpers/pg-store.js'
import { RecordingStore } from './helpers/staleness.js'

testStore('MemoryStore (test helper)', () => {
  const store = new MemoryStore()
  return { store, read: (key) => store.value(key) }
})

testStore('BatchMemoryStore (test helper, with saveMany)', () => {
  const store = new BatchMemoryStore()
  return { store, read: (key) => store.value(key) }
})

testStore('RecordingStore (staleness test helper)', () => {
  const store = new RecordingStore()
  return { store: store as Store, read: (key) => store.value(key) }
})

/**
 * A PostgreSQL table honouring versions. The suite reads synchronously, so after every write the rows it
 * touched are read back from the table (a real SELECT) into `held`, which `read` answers from.
 */
testStore('PgStore (a PostgreSQL table)', async () => {
  const pg = await PgStore.create('contract')
  const held = new Map<string, unknown>()
  const readBack = async (keys: readonly string[]): Promise<void> => {
    for (const k of keys) held.set(k, await pg.load(k))
  }
  const store: Store = {
    async save(key: string, value: unknown, ctx: WriteContext) {
      const r = await pg.save(key, value, ctx)
      await readBack([key])
      return r
    },
    async remove(key: string, ctx: WriteContext) {
      const r = await pg.remove(key, ctx)
      await readBack([key])
      return r
    },
    async saveMany(writes: readonly StoreWrite[]) {
      await pg.saveMany(writes)
      await readBack(writes.map((w) => w.key))
    },
  }
  return { store, read: (key) => held.get(key), close: () => pg.drop() }
})
