import type { Store, StoreWrite, WriteContext } from '../../src/index.js'

/** A real in-process Store (a Map with versions) with switches to inject failures. */
export class MemoryStore<T = unknown> implements Store<T> {
  readonly rows: Map<string, { value: T | undefined; version: number }> = new Map()
  saves = 0
  removes = 0
  /** Keys save was called with. */
  readonly tried: Set<string> = new Set()
  /** Throw on every write while true. */
  failing = false
  /** Return this instead of undefined from save/remove while set. */
  garbage: unknown = undefined
  /** Throw on save of this value. */
  poison: unknown = Symbol('none')

  load(key: string): T | undefined {
    return this.rows.get(key)?.value
  }
  value(key: string): T | undefined {
    return this.rows.get(key)?.value
  }
  save(key: string, value: T, ctx: WriteContext): unknown {
    this.saves++
    this.tried.add(key)
    if (this.failing) throw new Error('store down')
    if (value === this.poison) throw new Error('poison value')
    if (this.garbage !== undefined) return this.garbage
    return this.apply(key, value, ctx.version)
  }
  remove(key: string, ctx: WriteContext): unknown {
    this.removes++
    if (this.failing) throw new Error('store down')
    if (this.garbage !== undefined) return this.garbage
    return this.apply(key, undefined, ctx.version)
  }
  private apply(key: string, value: T | undefined, version: number | undefined): boolean {
    const cur = this.rows.get(key)
    if (version !== undefined && cur !== undefined && cur.version >= version) return false
    this.rows.set(key, { value, version: version ?? cur?.version ?? 0 })
    return true
  }
}

/** A MemoryStore with a batch write. */
export class BatchMemoryStore<T = unknown> extends MemoryStore<T> {
  batches = 0
  saveMany(writes: readonly StoreWrite<T>[]): unknown {
    this.batches++
    if (this.failing) throw new Error('store down')
    for (const w of writes) if (w.value === this.poison) throw new Error('poison value in batch')
    for (const w of writes) this.save(w.key, w.value, { version: w.version })
    return undefined
  }
}
