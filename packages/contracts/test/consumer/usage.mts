// A consumer's view of @tierkit/contracts: implement the shapes, throw and match the errors, use the serializer.
import {
  type CacheLayer,
  type CacheObserver,
  type CacheOutcome,
  ClosedError,
  checkTtl,
  exactSerializer,
  isTierkitError,
  type L1Store,
  type LoaderContext,
  type Store,
  TierkitError,
  type WritableCache,
} from '@tierkit/contracts'
import { testStore } from '@tierkit/contracts/testing'

const seen: Array<[CacheLayer, CacheOutcome, number | undefined]> = []
const observer: CacheObserver = { record: (layer, outcome, ms) => void seen.push([layer, outcome, ms]) }
observer.record('db', 'hit', 1.5)

const m = new Map<string, unknown>()
const l1: L1Store = {
  get: (k) => m.get(k),
  set: (k, v) => m.set(k, v),
  delete: (k) => m.delete(k),
  clear: () => m.clear(),
}
const store: Store<{ n: number }> = {
  save: (_key, value, { version }) => (version === undefined ? undefined : value.n > 0),
  remove: () => undefined,
}
export const loader = (ctx: LoaderContext<string, { n: number }>): { n: number } => {
  ctx.signal.throwIfAborted()
  return ctx.stale ?? { n: ctx.key.length }
}
export const cache: WritableCache = { set() {}, delete() {}, deleteMany() {}, evictLocal() {} }

class MyError extends TierkitError<'E_MINE'> {}
const e: TierkitError = new ClosedError('the thing')
if (isTierkitError(e, 'E_CLOSED')) console.log(e.code)
export const ttl: number = checkTtl('mine', 'ttl', 1000)
export const back: unknown = exactSerializer.decode(exactSerializer.encode(new Map([[1n, new Date(0)]])))
export { l1, MyError, store }
export const suite: typeof testStore = testStore
