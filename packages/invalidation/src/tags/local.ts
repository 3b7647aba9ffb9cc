/**
 * The tag versions this process knows, beside its L1 entries: learned from Redis reads and from the bus
 * (a tag invalidation carries the new versions to every instance). They are trusted, so that an L1 hit
 * needs no round trip, only while a bus is subscribed with no loss since, and each for at most `ttl` ms
 * after it was learned; otherwise the reader asks Redis (and the last known ones are kept as a fallback
 * when Redis cannot answer).
 */
import { coarseNow } from '@tierkit/contracts'
import type { TagState } from './versions.js'

interface Entry {
  hard: number | undefined
  soft: number
  /** When it was learned (ms, this process's clock): a Redis read's start, a message's arrival. */
  at: number
}

/** How many tags are remembered at most (the oldest learned are forgotten first). */
export const MAX_KNOWN_TAGS = 100_000

/** A stored value's tags and versions, with what `freshFor` remembers of its last check. */
export interface FreshMemo {
  readonly tags: readonly string[]
  readonly versions: readonly number[]
  readonly stamps: readonly number[]
  checkedGeneration: number
  checkedUntil: number
}

/** A point before a Redis read: what it learns is merged against what arrived meanwhile. */
export interface ReadMark {
  readonly epoch: number
  readonly at: number
}

/** The versions known in this process (see the module comment). */
export class LocalVersions {
  private readonly map = new Map<string, Entry>()
  private trusted = false
  private epoch = 0
  /** Moves on with every change of the map (what `freshFor` remembered is then checked again). */
  private generation = 0
  private readonly ttl: number

  constructor(ttl: number) {
    this.ttl = ttl
  }

  /** The versions of all `tags`, when each is known, trusted and younger than `ttl`; else `undefined`. */
  fresh(tags: readonly string[]): TagState | undefined {
    if (!this.trusted) return undefined
    const now = Date.now()
    const hard: Array<number | undefined> = []
    const soft: number[] = []
    for (const tag of tags) {
      const e = this.map.get(tag)
      if (e === undefined || now - e.at > this.ttl) return undefined
      hard.push(e.hard)
      soft.push(e.soft)
    }
    return { hard, soft }
  }

  /** Trusted: a bus is subscribed, with no loss since. */
  get isTrusted(): boolean {
    return this.trusted
  }

  /**
   * Whether the map, trusted and fresh, shows a stored value fresh: every version and stamp still the
   * current one. No allocation: the L1-hit path; and while nothing changed in the map since this wrapper was
   * last found fresh (`generation`), no lookup either. `false` only means "ask further".
   */
  freshFor(w: FreshMemo): boolean {
    if (!this.trusted) return false
    // coarse (~1 ms): a version is trusted for `ttl` (a second by default) since it was learned
    const now = coarseNow()
    if (w.checkedGeneration === this.generation && now <= w.checkedUntil) return true
    let until = Number.POSITIVE_INFINITY
    for (let i = 0; i < w.tags.length; i++) {
      const e = this.map.get(w.tags[i] as string)
      if (e === undefined || now - e.at > this.ttl || e.hard !== w.versions[i] || e.soft !== w.stamps[i]) {
        return false
      }
      until = Math.min(until, e.at + this.ttl)
    }
    w.checkedGeneration = this.generation
    w.checkedUntil = until
    return true
  }

  /** The last versions known of all `tags`, however old (when Redis cannot be asked), else `undefined`. */
  lastKnown(tags: readonly string[]): TagState | undefined {
    const hard: Array<number | undefined> = []
    const soft: number[] = []
    for (const tag of tags) {
      const e = this.map.get(tag)
      if (e === undefined) return undefined
      hard.push(e.hard)
      soft.push(e.soft)
    }
    return { hard, soft }
  }

  /** Taken before a Redis read of versions. */
  mark(): ReadMark {
    return { epoch: this.epoch, at: Date.now() }
  }

  /** What a Redis read that started at `mark` answered. Versions only grow: what arrived meanwhile is merged. */
  learn(tags: readonly string[], state: TagState, mark: ReadMark): void {
    tags.forEach((tag, i) => {
      const e = this.map.get(tag)
      const hard = state.hard[i]
      const soft = state.soft[i] ?? 0
      if (e !== undefined && (e.at > mark.at || mark.epoch !== this.epoch)) {
        // learned later than this read started (a message): keep the highest
        if (hard !== undefined && e.hard !== undefined) e.hard = Math.max(e.hard, hard)
        e.soft = Math.max(e.soft, soft)
        this.generation++
        return
      }
      this.put(tag, { hard, soft, at: mark.epoch === this.epoch ? mark.at : Number.NEGATIVE_INFINITY })
    })
  }

  /** Versions a tag invalidation announced (own or from the bus); without versions the tags are forgotten. */
  announced(tags: readonly string[], state: TagState | undefined): void {
    const at = Date.now()
    tags.forEach((tag, i) => {
      const hard = state?.hard[i]
      if (state === undefined || hard === undefined) {
        this.generation++
        this.map.delete(tag)
        return
      }
      const e = this.map.get(tag)
      const soft = state.soft[i] ?? 0
      this.put(tag, {
        hard: e?.hard === undefined ? hard : Math.max(e.hard, hard),
        soft: Math.max(e?.soft ?? 0, soft),
        at,
      })
    })
  }

  /**
   * The bus's subscription: `false` when it is lost (nothing is trusted), `true` when it is (back): what was
   * learned before may have missed messages, so it is kept as last known but no longer fresh.
   */
  subscription(up: boolean): void {
    this.generation++
    if (!up) {
      this.trusted = false
      return
    }
    this.epoch++
    for (const e of this.map.values()) e.at = Number.NEGATIVE_INFINITY
    this.trusted = true
  }

  private put(tag: string, e: Entry): void {
    this.generation++
    this.map.delete(tag)
    this.map.set(tag, e)
    if (this.map.size > MAX_KNOWN_TAGS) {
      const oldest = this.map.keys().next()
      if (oldest.done !== true) this.map.delete(oldest.value)
    }
  }
}
