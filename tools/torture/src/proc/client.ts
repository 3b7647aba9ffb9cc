/**
 * The HTTP clients (one Node process): public reads through the nginx edges (recorded like any read, with the
 * layer nginx or the instance reports), and probes of the authenticated route under hostile spellings, as the
 * owner, as another user and anonymously.
 */
import { Agent, request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { seeded } from '@tierkit/testkit/random'
import { errorInfo, HistoryWriter, now } from '../history.js'
import type { ChildConfig, Layer, OpEvent, ParentMessage } from '../types.js'
import { allKeys, familyOf, PRIVATE_MARKER, probePaths } from '../workload.js'

const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig
const send = (m: unknown): void => {
  try {
    process.send?.(m)
  } catch {
    // the orchestrator is gone
  }
}
process.on('disconnect', () => process.exit(0))

const h = new HistoryWriter(cfg.historyFile)
const wl = cfg.workload
const me = cfg.name
const random = seeded(cfg.seed)
const agent = new Agent({ keepAlive: true, maxSockets: 16 })
const keys = allKeys(wl).filter((k) => familyOf(k) !== 'rd')
const USERS = ['1', '2', '3']
let edges: string[] = []

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

function get(edge: string, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // the path is sent as written (no URL normalisation by the client)
    const u = new URL(edge)
    const req = request(
      { host: u.hostname, port: u.port, path, method: 'GET', agent, headers, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error('http timeout')))
    req.on('error', reject)
    req.end()
  })
}

const NGINX_SERVED = new Set(['HIT', 'STALE', 'UPDATING', 'REVALIDATED'])

async function publicRead(): Promise<void> {
  const key = keys[Math.floor(random() * keys.length)]!
  const e = Math.floor(random() * edges.length)
  const edge = edges[e]!
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
    via: 'http',
  }
  ev.edge = `edge${e}`
  try {
    const a = await get(edge, `/api/public/items/${encodeURIComponent(key)}`, {})
    const cache = String(a.headers['x-cache-status'] ?? '')
    ev.cache = cache
    ev.status = a.status
    if (a.status !== 200) {
      ev.ok = false
      ev.code = `HTTP_${a.status}`
      ev.msg = a.body.slice(0, 200)
    } else {
      const b = JSON.parse(a.body) as { v?: number; w?: string }
      ev.v = b.v
      ev.w = b.w
      ev.layer = (NGINX_SERVED.has(cache) ? 'nginx' : String(a.headers['x-layer'] ?? 'unknown')) as Layer
    }
  } catch (err) {
    const { code, msg } = errorInfo(err)
    ev.ok = false
    ev.code = code
    ev.msg = msg
  }
  ev.end = now()
  h.add(ev)
}

async function probe(): Promise<void> {
  const id = USERS[Math.floor(random() * USERS.length)]!
  const paths = probePaths(id)
  const path = paths[Math.floor(random() * paths.length)]!
  const r = random()
  // the owner most of the time (so a private answer exists to be cached), else another user or nobody
  const user = r < 0.6 ? id : r < 0.8 ? USERS[(USERS.indexOf(id) + 1) % USERS.length]! : undefined
  const e = Math.floor(random() * edges.length)
  const start = now()
  const ev: OpEvent = {
    t: 'op',
    p: me,
    kind: 'probe',
    start,
    end: start,
    ok: true,
    url: path,
    edge: `edge${e}`,
  }
  if (user !== undefined) ev.user = user
  try {
    const a = await get(edges[e]!, path, user === undefined ? {} : { 'x-user': user })
    ev.status = a.status
    ev.cache = String(a.headers['x-cache-status'] ?? '')
    ev.cc = String(a.headers['cache-control'] ?? '')
    if (a.body.includes(PRIVATE_MARKER)) {
      ev.privateBody = true
      try {
        const b = JSON.parse(a.body) as { user?: string; nonce?: string }
        if (b.user !== undefined) ev.owner = b.user
        if (b.nonce !== undefined) ev.nonce = b.nonce
      } catch {
        // not JSON: still a private body
      }
    }
  } catch (err) {
    const { code, msg } = errorInfo(err)
    ev.ok = false
    ev.code = code
    ev.msg = msg
  }
  ev.end = now()
  h.add(ev)
}

let running = false
const timers: NodeJS.Timeout[] = []
const inflight = new Set<Promise<unknown>>()
const track = (p: Promise<unknown>): void => {
  inflight.add(p)
  p.finally(() => inflight.delete(p))
}

process.on('message', (m: ParentMessage) => {
  void (async () => {
    if (m.cmd === 'start') {
      edges = m.edges
      running = true
      timers.push(
        setInterval(() => {
          if (running && inflight.size < 32) track(publicRead())
        }, 1000 / wl.httpReadsPerSec),
        setInterval(() => {
          if (running && inflight.size < 32) track(probe())
        }, 1000 / wl.probesPerSec),
      )
    } else if (m.cmd === 'stop') {
      running = false
      for (const t of timers) clearInterval(t)
      const deadline = Date.now() + 15_000
      while (inflight.size > 0 && Date.now() < deadline) {
        await Promise.race([...inflight, sleep(100)])
      }
      h.flush()
      send({ type: 'stopped' })
    } else if (m.cmd === 'sweep') {
      // the final convergence reads: every key through every edge
      for (const key of keys) {
        for (let e = 0; e < edges.length; e++) {
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
          }
          ev.via = 'sweep'
          ev.edge = `edge${e}`
          try {
            const a = await get(edges[e]!, `/api/public/items/${encodeURIComponent(key)}`, {})
            const cache = String(a.headers['x-cache-status'] ?? '')
            ev.cache = cache
            const b = JSON.parse(a.body) as { v?: number; w?: string }
            ev.v = b.v
            ev.w = b.w
            ev.layer = (
              NGINX_SERVED.has(cache) ? 'nginx' : String(a.headers['x-layer'] ?? 'unknown')
            ) as Layer
          } catch (err) {
            const { code, msg } = errorInfo(err)
            ev.ok = false
            ev.code = code
            ev.msg = msg
          }
          ev.end = now()
          h.add(ev)
        }
      }
      h.flush()
      send({ type: 'swept' })
    } else if (m.cmd === 'exit') {
      h.flush()
      agent.destroy()
      process.exit(0)
    }
  })().catch((e: unknown) => send({ type: 'error', msg: String((e as Error)?.stack ?? e) }))
})
send({ type: 'ready' })
