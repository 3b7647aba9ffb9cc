/**
 * An `onEvent` listener that records every event and lets a test wait for the next one matching a predicate
 * (the bus and the other emitters of this package report through `onEvent` only).
 */
export interface EventLog<E> {
  /** Every event so far, in order. */
  readonly events: E[]
  /** Pass as the `onEvent` option. */
  readonly onEvent: (event: E) => void
  /** Resolves with the first event matching `pred` that arrives after this call. */
  next(pred: (event: E) => boolean): Promise<E>
}

export function eventLog<E>(): EventLog<E> {
  const events: E[] = []
  const waiters = new Set<{ pred: (e: E) => boolean; resolve: (e: E) => void }>()
  return {
    events,
    onEvent(event) {
      events.push(event)
      for (const w of [...waiters]) {
        if (w.pred(event)) {
          waiters.delete(w)
          w.resolve(event)
        }
      }
    },
    next(pred) {
      return new Promise((resolve) => {
        waiters.add({ pred, resolve })
      })
    },
  }
}
