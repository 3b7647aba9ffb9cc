/**
 * The far end of the bus benchmark: answers every ping with a pong, through the tierkit bus and through raw
 * ioredis pub/sub (the anchor). env: REDIS_URL
 */
import { Redis } from 'ioredis'
import { createInvalidationBus } from '../src/index.js'

const redis = new Redis(process.env.REDIS_URL!)
const bus = createInvalidationBus({
  redis,
  channel: 'bench:bus',
  caches: [{ evictLocal() {} }],
  onEvent(e) {
    if (e.type !== 'message') return
    const k = e.message.keys[0]
    if (k?.startsWith('ping:')) void bus.publish({ keys: [`pong:${k.slice(5)}`] })
  },
})
const rawSub = redis.duplicate()
const rawPub = redis.duplicate()
rawSub.on('message', (_ch: string, msg: string) => {
  void rawPub.publish('bench:raw-pong', msg)
})
await rawSub.subscribe('bench:raw-ping')
await bus.ready()
process.send?.({ ready: true })
process.on('message', async (m: { op: string }) => {
  if (m.op === 'exit') {
    await bus.close()
    rawSub.disconnect()
    rawPub.disconnect()
    redis.disconnect()
    process.exit(0)
  }
})
