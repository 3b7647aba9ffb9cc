/**
 * One service instance (its own Node process): an L1 (`@tierkit/l1-cache`) in front of redis-aside's cache, the
 * invalidation bus or Redis client tracking for the other instances' writes, a writer for the keys this instance
 * owns (deleteOnUpdate, writeThrough, writeBehind, tags), a read loop over every key, and a Fastify server with
 * `@tierkit/cdn-headers` (a public route and an authenticated one) behind its own nginx. Every read, write and loader
 * call goes to the history file.
 */
import { randomBytes } from 'node:crypto'
import { Agent, request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { seeded } from '@tierkit/testkit/random'
import Fastify from 'fastify'
import type { Redis } from 'ioredis'
import { encodeTyped, type Item } from '../codec.js'
import { breakerOption, l1Option, timeoutArg, vocabulary } from '../compat.js'
import { errorInfo, HistoryWriter, isRefusal, now } from '../history.js'
import { loadPackages } from '../packages.js'
import { connect, whenReady } from '../redis-client.js'
import { openStore } from '../store.js'
import type { ChildConfig, Family, Layer, OpEvent, ParentMessage } from '../types.js'
import {
  allKeys,
  familyOf,
  PRIVATE_MARKER,
  pickFamily,
  pickWriteFamily,
  policyRules,
  tagOf,
} from '../workload.js'

const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig
const send = (m: unknown): void => {
  try {
    process.send?.(m)
  } catch {
    // the orchestrator is gone
  }
}
process.on('disconnect', () => process.exit(0))

const pk = await loadPackages(cfg.packagesRoot)
const vocab = vocabulary(pk)
const h = new HistoryWriter(cfg.historyFile)
const wl = cfg.workload
const me = cfg.name
const random = seeded(cfg.seed)
const store = openStore(cfg.pg.connectionString, cfg.pg.schema, me)
const redis = connect(cfg.redis)
await whenReady(redis)

const note = (what: string, detail?: string): void => h.add({ t: 'note', p: me, at: now(), what, detail })
const cacheEvents =
  (ns: string) => (e: { type: string; state?: string; operation?: string; error?: unknown }) => {
    if (e.type === 'breaker') note(`breaker-${e.state}`, ns)
    if (e.type === 'redis-error' && process.env.TORTURE_DEBUG)
      note(
        'redis-error',
        `${ns} ${e.operation} ${String((e.error as Error)?.message ?? e.error).slice(0, 120)}`,
      )
  }

const l1 = new pk.l1.L1Cache<string, unknown>({ max: 10_000 })
const common = {
  redis,
  ttl: wl.ttlMs,
  timeouts: { redis: wl.redisTimeoutMs, hard: wl.hardTimeoutMs },
  breaker: breakerOption(vocab, 5, wl.breakerCoolDownMs),
}
const items = pk.ra.createCache({
  ...common,
  l1,
  namespace: 'items',
  lock: { distributed: true, lease: wl.lockLeaseMs },
  onEvent: cacheEvents('items'),
})
// reference data: no L1, so every read asks Redis (how the loader amplification of an outage shows), and the
// package's default breaker (5 failures, 5 s cool-down)
const rd = pk.ra.createCache({
  redis,
  ttl: wl.ttlMs,
  timeouts: { redis: wl.redisTimeoutMs, hard: wl.hardTimeoutMs },
  namespace: 'rd',
  onEvent: cacheEvents('rd'),
})
const itemsPrefix = `ra:${'items'.length}:items:v:`

const useTracking = cfg.invalidation === 'tracking'
const bus = pk.inv.createInvalidationBus({
  redis,
  channel: `torture:${cfg.runId}`,
  caches: useTracking ? [] : [items],
  ...l1Option(vocab, useTracking ? [] : [l1]),
  instanceId: me,
  onEvent: (e) => {
    if (e.type === 'reconnect') note('bus-reconnect', `cleared ${e.cleared}`)
  },
})
const tracking = useTracking
  ? pk.inv.createTrackingInvalidator({
      redis: redis as Redis,
      prefixes: [itemsPrefix],
      toKey: (k) => pk.ra.parseRedisKey(k)?.key,
      caches: [items],
      ...l1Option(vocab, [l1]),
      onEvent: (e) => {
        if (e.type === 'cleared') note('tracking-cleared', e.reason)
      },
    })
  : undefined
await bus.ready(timeoutArg(vocab, 15_000))
await tracking?.ready(timeoutArg(vocab, 15_000))

const tags = pk.inv.createTags<Item>({ redis, cache: items, namespace: `tg-${cfg.runId}` })
// when a writer repaired an invalidation that had failed (Redis was away), the app purges the CDN again: the
// purge made at write time may have fetched the old value the cache still held
const onWriterEvent = (e: { type: string; keys?: readonly string[] }): void => {
  if (e.type !== 'repaired' || !e.keys) return
  note('repaired', e.keys.join(' '))
  for (const k of e.keys) void track(purge(k))
}
const duWriter = pk.inv.deleteOnUpdate<Item>({ cache: items, store, bus, onEvent: onWriterEvent })
const rdWriter = pk.inv.deleteOnUpdate<Item>({ cache: rd, store })
const wtWriter = pk.inv.writeThrough<Item>({ cache: items, store, bus, onEvent: onWriterEvent })
const wbWriter = pk.inv.writeBehind<Item>({
  redis,
  name: `q-${cfg.runId}`,
  cache: items,
  bus,
  onEvent: onWriterEvent,
})

// ---------------------------------------------------------------- reads

const loader = (ns: string, key: string, flag: { called: boolean }) => async (): Promise<Item | null> => {
  flag.called = true
  const start = now()
  try {
    const v = (await store.load(key)) ?? null
    h.add({ t: 'load', p: me, ns, key, start, end: now(), ok: true })
    return v
  } catch (e) {
    h.add({ t: 'load', p: me, ns, key, start, end: now(), ok: false })
    throw e
  }
}

/** Reads `key` the way its family is read; returns the item and the layer that answered. */
async function readKey(key: string): Promise<{ item: Item | null | undefined; layer: Layer }> {
  const fam = familyOf(key)
  const flag = { called: false }
  if (fam === 'tg') {
    const item = await tags.getOrLoad(key, loader('items', key, flag) as () => Promise<Item>, {
      tags: [tagOf(key, wl)],
    })
    return { item, layer: flag.called ? 'db' : 'tags' }
  }
  if (fam === 'rd') {
    const item = await rd.getOrLoad<Item | null>(key, loader('rd', key, flag))
    return { item, layer: flag.called ? 'db' : 'l2' }
  }
  const e = l1.peek(itemsPrefix + key) as { f?: number } | undefined
  const inL1 = typeof e?.f === 'number' && e.f > Date.now()
  const item = await items.getOrLoad<Item | null>(key, loader('items', key, flag))
  return { item, layer: inL1 ? 'l1' : flag.called ? 'db' : 'l2' }
}

const inflight = new Set<Promise<unknown>>()
const track = <T>(p: Promise<T>): Promise<T> => {
  inflight.add(p)
  const done = (): void => {
    inflight.delete(p)
  }
  p.then(done, done)
  return p
}

async function recordedRead(key: string, via: 'direct' | 'sweep'): Promise<void> {
  const start = now()
  const ev: OpEvent = {
    t: 'op',
    p: me,
    kind: 'read',
    fam: familyOf(key),
    key,
    start,
    end: start,
    ok: true,
    via,
  }
  try {
    const { item, layer } = await readKey(key)
    ev.layer = layer
    if (item && typeof item === 'object') {
      ev.v = item.v
      ev.w = item.w
    }
  } catch (e) {
    const { code, msg } = errorInfo(e)
    ev.ok = false
    ev.code = code
    ev.msg = msg
  }
  ev.end = now()
  h.add(ev)
}

// ---------------------------------------------------------------- writes

const keys = allKeys(wl)
const owned = keys.filter((_, i) => i % (cfg.instances ?? 1) === cfg.index)
const versions = new Map<string, number>(owned.map((k) => [k, 0]))
const writing = new Set<string>()
let edges: string[] = []
let writeCount = 0
const purgeAgent = new Agent({ keepAlive: true, maxSockets: 8 })

/** Re-fetches the public URL of `key` through every edge, replacing what nginx holds (the app's CDN purge). */
function purge(key: string): Promise<void> {
  return Promise.all(
    edges.map(
      (edge) =>
        new Promise<void>((resolve) => {
          const u = new URL(`/api/public/items/${encodeURIComponent(key)}`, edge)
          const req = request(
            u,
            { agent: purgeAgent, headers: { 'x-torture-purge': '1' }, timeout: 5000 },
            (res) => {
              res.resume()
              res.on('end', () => resolve())
              res.on('error', () => resolve())
            },
          )
          req.on('timeout', () => req.destroy(new Error('purge timeout')))
          req.on('error', () => resolve())
          req.end()
        }),
    ),
  ).then(() => undefined)
}

const DB_WRITTEN = new Set(['E_CACHE_DELETE_FAILED', 'E_CACHE_WRITE_FAILED', 'E_PUBLISH_FAILED'])

async function writeKey(key: string): Promise<void> {
  const fam = familyOf(key)
  const v = (versions.get(key) ?? 0) + 1
  versions.set(key, v)
  const w = `${me}-${key}-${v}-${randomBytes(3).toString('hex')}`
  const value: Item = { v, w, by: me }
  if (fam === 'wb' && wl.typeProbe) {
    value.m = new Map([['v', v]])
    value.s = new Set([w])
    value.u = undefined
  }
  writeCount++
  const start = now()
  const ev: OpEvent = { t: 'op', p: me, kind: 'write', fam, key, start, end: start, ok: true, v, w }
  let dbDone = false
  try {
    if (fam === 'du') {
      ev.strategy = 'deleteOnUpdate'
      await duWriter.write(key, value)
    } else if (fam === 'rd') {
      ev.strategy = 'deleteOnUpdate'
      await rdWriter.write(key, value)
    } else if (fam === 'wt') {
      ev.strategy = 'writeThrough'
      // a TTL computed from other figures is rarely a whole number of ms
      const ttl =
        wl.fractionalTtlEvery > 0 && writeCount % wl.fractionalTtlEvery === 0 ? wl.ttlMs + 0.25 : undefined
      if (ttl !== undefined) ev.ttl = ttl
      await wtWriter.write(key, value, ttl === undefined ? undefined : { ttl })
    } else if (fam === 'wb') {
      ev.strategy = 'writeBehind'
      ev.enc = encodeTyped(value)
      const q = await wbWriter.write(key, value)
      ev.qv = q.version
    } else {
      ev.strategy = 'tags'
      await store.save(key, value, { version: undefined })
      dbDone = true
      // the app's part: the database is written, so the invalidation must happen; retry it while Redis is away
      for (let attempt = 1; ; attempt++) {
        try {
          await tags.invalidateTags([tagOf(key, wl)])
          break
        } catch (e) {
          if (isRefusal(e) || attempt >= 50) throw e
          await sleep(200)
        }
      }
    }
    ev.dbApplied = fam !== 'wb'
  } catch (e) {
    const { code, msg } = errorInfo(e)
    ev.ok = false
    ev.code = code
    ev.msg = msg
    ev.refused = isRefusal(e)
    ev.dbApplied = dbDone || DB_WRITTEN.has(code)
  }
  // the app's CDN purge: once now (the write returns after it), once more a little later for a response that
  // was already on its way to nginx when the first purge ran
  if (fam !== 'rd' && (ev.ok || ev.dbApplied)) {
    await purge(key)
    const again = setTimeout(() => void track(purge(key)), wl.purgeAgainMs)
    again.unref()
  }
  ev.end = now()
  h.add(ev)
}

// ---------------------------------------------------------------- loops, HTTP, control

let running = false
const timers: NodeJS.Timeout[] = []

function startLoops(): void {
  running = true
  const readEvery = 1000 / wl.readsPerSec
  timers.push(
    setInterval(() => {
      if (!running || inflight.size > 64) return
      const fam = pickFamily(random)
      const n = wl.keys[fam]
      const key = `${fam}:${Math.floor(random() * n)}`
      void track(recordedRead(key, 'direct'))
    }, readEvery),
  )
  if (owned.length > 0 && wl.writesPerSec > 0) {
    timers.push(
      setInterval(() => {
        if (!running) return
        const fam = pickWriteFamily(random)
        const free = owned.filter((k) => !writing.has(k) && familyOf(k) === fam)
        if (free.length === 0) return
        const key = free[Math.floor(random() * free.length)]!
        writing.add(key)
        void track(writeKey(key)).finally(() => writing.delete(key))
      }, 1000 / wl.writesPerSec),
    )
  }
}

async function stopLoops(): Promise<void> {
  running = false
  for (const t of timers) clearInterval(t)
  timers.length = 0
  const deadline = Date.now() + 15_000
  while (inflight.size > 0 && Date.now() < deadline) await Promise.race([...inflight, sleep(100)])
  h.flush()
}

const policy = pk.cdn.definePolicy(policyRules(vocab))
const app = Fastify({ logger: false, forceCloseConnections: true })
await app.register(pk.cdnFastify.fastifyCdnHeaders, { policy })
app.get('/api/public/items/:key', async (req, reply) => {
  const key = (req.params as { key: string }).key
  const fam = familyOf(key) as Family | undefined
  if (fam === undefined) return reply.code(404).send({ error: 'no such key' })
  if (req.headers['x-torture-purge'] !== undefined && fam !== 'rd') items.evictLocal(key)
  const { item, layer } = await readKey(key)
  reply
    .header('x-layer', layer)
    .header('x-instance', me)
    .header('cache-tag', `item-${key.replace(':', '-')}`)
  return reply.type('application/json; charset=utf-8').send(JSON.stringify({ key, v: item?.v, w: item?.w }))
})
let nonce = 0
app.get('/api/users/:id', async (req, reply) => {
  const id = (req.params as { id: string }).id
  const user = req.headers['x-user']
  reply.header('x-instance', me)
  if (typeof user !== 'string' || user !== id) {
    return reply.code(401).send({ [PRIVATE_MARKER]: true, error: 'unauthorized' })
  }
  nonce++
  return reply.send({ [PRIVATE_MARKER]: true, user: id, nonce: `${me}-${nonce}`, secret: `secret-of-${id}` })
})
await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
const port = typeof address === 'object' && address !== null ? address.port : 0

process.on('message', (m: ParentMessage) => {
  void (async () => {
    if (m.cmd === 'start') {
      edges = m.edges
      // warm: every key once, so that the warm-up is the steady state the loader rates are compared with
      for (const key of keys) await recordedRead(key, 'sweep')
      startLoops()
    } else if (m.cmd === 'stall') {
      note('stall', String(m.ms))
      h.flush()
      // the loop blocks while this instance has Redis calls in flight (as when one request's synchronous work
      // holds the loop while others wait on Redis): 16 reads of each cache, each its own call (one per tick),
      // all sent before the loop blocks; their answers arrive during the stall
      let sent = 0
      const burst = (): void => {
        if (sent < 16) {
          void items.get(`stall-probe:${sent}`).catch(() => {})
          void rd.get(`stall-probe:${sent}`).catch(() => {})
          sent++
          process.nextTick(burst)
          return
        }
        const until = Date.now() + m.ms
        while (Date.now() < until) {
          // busy: the event loop is blocked, as by a long synchronous computation
        }
        send({ type: 'stalled', ms: m.ms })
      }
      process.nextTick(burst)
    } else if (m.cmd === 'write-burst') {
      // every key of the family this instance owns and is not writing now, at once
      for (const key of owned) {
        if (familyOf(key) !== m.fam || writing.has(key)) continue
        writing.add(key)
        void track(writeKey(key)).finally(() => writing.delete(key))
      }
    } else if (m.cmd === 'stop') {
      await stopLoops()
      send({ type: 'stopped' })
    } else if (m.cmd === 'sweep') {
      for (const key of keys) await recordedRead(key, 'sweep')
      h.flush()
      send({ type: 'swept' })
    } else if (m.cmd === 'exit') {
      await stopLoops()
      await app.close().catch(() => {})
      await Promise.allSettled([bus.close(), tracking?.close(), items.close(), rd.close()])
      await store.close().catch(() => {})
      redis.disconnect()
      h.flush()
      process.exit(0)
    }
  })().catch((e: unknown) => send({ type: 'error', msg: String((e as Error)?.stack ?? e) }))
})
send({ type: 'ready', port })
