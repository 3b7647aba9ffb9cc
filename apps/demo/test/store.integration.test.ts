import { afterAll, describe, expect, it } from 'vitest'
import { openPostgresStore } from '../src/db/postgres.js'
import { userToken } from '../src/db/seed.js'
import { openSqliteStore } from '../src/db/sqlite.js'
import type { DemoStore } from '../src/db/types.js'
import { type DbKind, testDb } from './helpers.js'

const FULL = { products: 100_000, users: 10_000 }
const INDEXES = [
  'idx_products_brand',
  'idx_products_category',
  'idx_products_price',
  'idx_users_email',
  'idx_users_token',
]

const opened: Array<{ store: DemoStore; drop(): Promise<void> }> = []
afterAll(async () => {
  for (const o of opened) {
    await o.store.close().catch(() => {})
    await o.drop()
  }
})

function open(kind: DbKind): DemoStore {
  const db = testDb(kind)
  const store =
    kind === 'sqlite'
      ? openSqliteStore(db.env.SQLITE_PATH!)
      : openPostgresStore(db.env.DATABASE_URL!, db.env.DATABASE_SCHEMA!)
  opened.push({ store, drop: db.drop })
  return store
}

describe('the Store over SQLite and PostgreSQL', () => {
  const stores = new Map<DbKind, DemoStore>()

  it.each<DbKind>(['sqlite', 'postgres'])(
    '%s: seeds 100,000 products and 10,000 users with indexes, once',
    async (kind) => {
      const store = open(kind)
      stores.set(kind, store)
      expect(await store.init(FULL)).toEqual({ seeded: true, ...FULL })
      expect(await store.indexes()).toEqual(INDEXES)
      expect(await store.init(FULL)).toEqual({ seeded: false, ...FULL }) // second start: nothing re-seeded
      expect(await store.counts()).toEqual(FULL)
    },
  )

  it('both databases hold the same rows', async () => {
    const a = stores.get('sqlite')!
    const b = stores.get('postgres')!
    const ids = [1, 2, 500, 4242, 77_777, 100_000]
    const pa = await a.getProducts(ids)
    const pb = await b.getProducts(ids)
    expect([...pa.values()]).toHaveLength(ids.length)
    for (const id of ids) expect(pb.get(id)).toEqual(pa.get(id))
    expect(await b.getProduct(100_001)).toBeUndefined()
    expect(await a.getUser(10_000)).toEqual(await b.getUser(10_000))
    expect((await a.getUser(3))!.apiToken).toBe(userToken(3))
    const ca = await a.priceColumns()
    const cb = await b.priceColumns()
    expect(ca.prices.length).toBe(100_000)
    expect(Buffer.from(cb.prices.buffer).equals(Buffer.from(ca.prices.buffer))).toBe(true)
    // the category listing's members: the same first ids of a category on both, in id order
    const category = pa.get(4242)!.category
    const members = await a.categoryProductIds(category, 20)
    expect(members).toHaveLength(20)
    expect(members).toEqual([...members].sort((x, y) => x - y))
    expect(await b.categoryProductIds(category, 20)).toEqual(members)
    for (const p of (await b.getProducts(members)).values()) expect(p.category).toBe(category)
    expect(await a.categoryProductIds('spaceships', 20)).toEqual([])
  })

  it.each<DbKind>(['sqlite', 'postgres'])(
    '%s: view counters follow write-behind versions (older never overwrites newer)',
    async (kind) => {
      const s = stores.get(kind)!
      expect(await s.saveViews([{ id: 9, views: 5, version: 10 }])).toBe(1)
      expect(await s.saveViews([{ id: 9, views: 3, version: 7 }])).toBe(0)
      expect(await s.getViews(9)).toBe(5)
      expect(
        await s.saveViews([
          { id: 9, views: 6, version: 11 },
          { id: 10, views: 1, version: 12 },
        ]),
      ).toBe(2)
      expect(await s.getViews(9)).toBe(6)
      expect(await s.incrementViews(10)).toBe(2)
      const p = (await s.getProduct(9))!
      expect(await s.saveProduct({ ...p, stock: 1, version: 2 })).toBe(true)
      expect(await s.saveProduct({ ...p, id: 200_000 })).toBe(false)
      expect((await s.getProduct(9))!).toMatchObject({ stock: 1, version: 2 })
    },
  )
})
