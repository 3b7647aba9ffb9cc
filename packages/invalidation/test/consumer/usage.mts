// Type-checked against the packed package in a scratch project (publish-and-consume check).
import {
  type BusEvent,
  createFlusher,
  createInvalidationBus,
  createTags,
  createTrackingInvalidator,
  deleteOnUpdate,
  type InvalidationCache,
  InvalidationError,
  jitterTtl,
  type QueuedWrite,
  type ReadableCache,
  ReadyTimeoutError,
  type Store,
  type StoreWrite,
  ttlFromValue,
  type WriteBehind,
  writeBehind,
  writeThrough,
} from '@tierkit/invalidation'
import type { Redis } from 'ioredis'

interface User {
  name: string
  maxAge: number
}

const rows = new Map<string, { value: User | undefined; version: number }>()
const store: Store<User> = {
  load: (key) => rows.get(key)?.value,
  save(key, value, { version }) {
    const cur = rows.get(key)
    if (version !== undefined && cur !== undefined && cur.version >= version) return false
    rows.set(key, { value, version: version ?? 0 })
    return true
  },
  remove(key, { version }) {
    rows.set(key, { value: undefined, version: version ?? 0 })
  },
  saveMany(writes: readonly StoreWrite<User>[]) {
    for (const w of writes) rows.set(w.key, { value: w.value, version: w.version })
  },
}

const l1 = new Map<string, unknown>()
const cache: ReadableCache = {
  get: (key) => l1.get(key),
  set: (key, value) => l1.set(key, value),
  delete: (key) => l1.delete(key),
  deleteMany: (keys) => {
    for (const k of keys) l1.delete(k)
  },
  evictLocal: (keys) => {
    for (const k of typeof keys === 'string' ? [keys] : keys) l1.delete(k)
  },
}
const plain: InvalidationCache = cache

export async function main(redis: Redis): Promise<QueuedWrite> {
  const bus = createInvalidationBus({
    redis,
    channel: 'app:invalidate',
    caches: [plain],
    onEvent: (e: BusEvent) => void e,
    readyTimeoutMs: 5_000,
  })
  try {
    await bus.ready(2_000)
  } catch (e) {
    if (e instanceof ReadyTimeoutError && e.code === 'E_READY_TIMEOUT') console.log(e.timeoutMs, e.what)
    throw e
  }
  await deleteOnUpdate({ cache: plain, store, bus }).write('user:1', { name: 'Ada', maxAge: 1000 })
  await writeThrough<User>({
    cache: plain,
    store,
    bus,
    ttl: ttlFromValue((u: User) => u.maxAge, 60_000),
  }).write('user:2', { name: 'Bob', maxAge: jitterTtl(60_000, 0.1) })
  const wb: WriteBehind<User> = writeBehind<User>({ redis, name: 'users', cache: plain, bus })
  const flusher = createFlusher<User>({ redis, name: 'users', store, maxAttempts: 5 })
  const ack = await wb.write('user:3', { name: 'Cy', maxAge: 5 })
  await wb.flush()
  await flusher.close()
  const tags = createTags<User>({ redis, cache })
  await tags.set('user:1', { name: 'Ada', maxAge: 1 }, { tags: ['users'] })
  await tags.invalidateTags(['users'])
  const tracking = createTrackingInvalidator({
    redis,
    prefixes: ['users:'],
    toKey: (k) => k,
    caches: [plain],
  })
  await tracking.close()
  await bus.close()
  try {
    await wb.write('', { name: '', maxAge: 1 })
  } catch (e) {
    if (e instanceof InvalidationError) console.log(e.code)
  }
  return ack
}
