// Type-checked against the packed package in a scratch project (publish-and-consume check).
import {
  AbortedError,
  type BusEvent,
  type CacheObserver,
  ClosedError,
  createFlusher,
  createInvalidationBus,
  createTags,
  createTrackingInvalidator,
  deleteOnUpdate,
  errors,
  FlushTimeoutError,
  InvalidationError,
  type InvalidationErrorCode,
  jitterTtl,
  type QueuedWrite,
  type ReadableCache,
  ReadyTimeoutError,
  type Store,
  type StoreWrite,
  TierkitTypeError,
  ttlFromValue,
  UnserializableValueError,
  type WritableCache,
  type WriteBehind,
  writeBehind,
  writeThrough,
} from '@tierkit/invalidation'
import { type StoreUnderTest, testStore } from '@tierkit/invalidation/testing'
import type { Redis } from 'ioredis'

interface User {
  name: string
  maxAge: number
  roles: Set<string>
}

const rows = new Map<string, { value: User | undefined; version: number }>()
const store: Store<User> = {
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
const cache: ReadableCache & WritableCache = {
  get: (key) => l1.get(key),
  set: (key, value) => l1.set(key, value),
  delete: (key) => l1.delete(key),
  deleteMany: (keys) => {
    for (const k of keys) l1.delete(k)
  },
  evictLocal: (keys) => {
    if (keys === undefined) l1.clear()
    else for (const k of typeof keys === 'string' ? [keys] : keys) l1.delete(k)
  },
}
const observer: CacheObserver = { record: (layer, outcome, duration) => void [layer, outcome, duration] }

export async function main(redis: Redis): Promise<QueuedWrite> {
  const bus = createInvalidationBus({
    redis,
    channel: 'app:invalidate',
    caches: [cache],
    onEvent: (e: BusEvent) => void e.type,
    readyTimeout: 5_000,
    publishTimeout: 500,
    heartbeatInterval: 1_000,
  })
  try {
    await bus.ready({ timeout: 2_000 })
  } catch (e) {
    if (e instanceof ReadyTimeoutError && e.code === 'E_READY_TIMEOUT') console.log(e.timeout, e.what)
    throw e
  }
  await deleteOnUpdate({ cache, store, bus, observer }).write('user:1', {
    name: 'Ada',
    maxAge: 1000,
    roles: new Set(['admin']),
  })
  await writeThrough<User>({
    cache,
    store,
    bus,
    ttl: ttlFromValue((u: User) => u.maxAge, 60_000),
    repair: { maxKeys: 100, retryDelay: 50 },
  }).write('user:2', { name: 'Bob', maxAge: jitterTtl(60_000, 0.1), roles: new Set() })
  const wb: WriteBehind<User> = writeBehind<User>({ redis, name: 'users', cache, bus })
  const flusher = createFlusher<User>({
    redis,
    name: 'users',
    store,
    maxAttempts: 5,
    pollInterval: 200,
    claimTimeout: 10_000,
    guardTtl: 3_600_000,
  })
  const ack = await wb.write('user:3', { name: 'Cy', maxAge: 5, roles: new Set(['a']) })
  try {
    await wb.flush({ timeout: 5_000 })
  } catch (e) {
    if (e instanceof FlushTimeoutError) console.log(e.remaining, e.queue, e.timeout)
  }
  await wb.close()
  await flusher.close({ timeout: 1_000 })
  const tags = createTags<User | null>({ redis, cache, timeout: 500 })
  await tags.set('user:1', null, { tags: ['users'] })
  const found: User | null | undefined = await tags.get('user:1')
  const loaded: User | null = await tags.getOrLoad(
    'user:4',
    async (ctx) => (ctx.signal.aborted ? null : null),
    {
      tags: ['users'],
      signal: AbortSignal.timeout(1_000),
    },
  )
  void [found, loaded]
  await tags.invalidateTags(['users'])
  const tracking = createTrackingInvalidator({
    redis,
    prefixes: ['users:'],
    toKey: (k) => k,
    caches: [cache],
    verifyInterval: 1_000,
  })
  await tracking.ready({ timeout: 1_000 })
  await tracking.close()
  await bus.close({ timeout: 500 })
  try {
    await wb.write('', { name: '', maxAge: 1, roles: new Set() })
  } catch (e) {
    const code: string = e instanceof TierkitTypeError ? e.code : 'other'
    if (e instanceof InvalidationError || e instanceof ClosedError || e instanceof UnserializableValueError)
      console.log(e.code)
    if (e instanceof AbortedError) console.log(e.key)
    console.log(code, e instanceof errors.E_CLOSED)
  }
  const codes: InvalidationErrorCode[] = ['E_CLOSED', 'E_FLUSH_TIMEOUT']
  void codes
  return ack
}

export function contract(open: () => Promise<StoreUnderTest>): void {
  testStore('my store', open)
}
