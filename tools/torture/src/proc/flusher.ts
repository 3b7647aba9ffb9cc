/**
 * A write-behind flusher (its own Node process): `createFlusher` over the run's queue, applying to the
 * PostgreSQL store. On `arm-kill` it tells the orchestrator, right after its next batch committed and before the
 * batch is acknowledged in Redis, and waits to be SIGKILLed there (a crash mid-batch).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { flusherTimings, timeoutArg, vocabulary } from '../compat.js'
import { HistoryWriter, now } from '../history.js'
import { loadPackages } from '../packages.js'
import { connect, whenReady } from '../redis-client.js'
import { openStore } from '../store.js'
import type { ChildConfig, ParentMessage } from '../types.js'

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
const me = cfg.name
const store = openStore(cfg.pg.connectionString, cfg.pg.schema, me)
const redis = connect(cfg.redis)
await whenReady(redis)

let armed = false
store.afterCommit = async () => {
  if (!armed) return
  armed = false
  h.addNow({ t: 'note', p: me, at: now(), what: 'mid-batch', detail: 'committed, not acknowledged' })
  send({ type: 'in-batch' })
  await sleep(5000) // the orchestrator kills us meanwhile
}

const flusher = pk.inv.createFlusher({
  redis,
  name: `q-${cfg.runId}`,
  store,
  ...(cfg.consumer === undefined ? {} : { consumer: cfg.consumer }),
  batchSize: 20,
  ...flusherTimings(vocab, 100, 2000), // pollInterval 100 ms, claimTimeout 2 s
  backoff: { base: 100, max: 1000 },
  onEvent: (e) => {
    if (e.type === 'error') {
      const msg = String((e.error as Error)?.message ?? e.error).slice(0, 200)
      h.add({ t: 'note', p: me, at: now(), what: 'flusher-error', detail: msg })
    } else if (e.type === 'claimed') {
      h.add({ t: 'note', p: me, at: now(), what: 'claimed', detail: String(e.entries) })
    } else if (e.type === 'dead-letter') {
      h.add({ t: 'note', p: me, at: now(), what: 'dead-letter', detail: e.key })
    }
  },
})

process.on('message', (m: ParentMessage) => {
  void (async () => {
    if (m.cmd === 'arm-kill') {
      armed = true
    } else if (m.cmd === 'flush') {
      try {
        await flusher.flush(timeoutArg(vocab, m.timeoutMs))
        send({ type: 'flushed', ok: true })
      } catch (e) {
        const err = e as { code?: string; message?: string }
        send({ type: 'flushed', ok: false, code: err.code ?? 'Error', msg: String(err.message ?? e) })
      }
    } else if (m.cmd === 'exit') {
      await Promise.race([flusher.close(timeoutArg(vocab, 2000)).catch(() => {}), sleep(3000)])
      await store.close().catch(() => {})
      redis.disconnect()
      h.flush()
      process.exit(0)
    }
  })().catch((e: unknown) => send({ type: 'error', msg: String((e as Error)?.stack ?? e) }))
})
send({ type: 'ready' })
