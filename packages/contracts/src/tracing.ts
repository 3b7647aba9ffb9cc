/**
 * The tierkit tracing channels: every package publishes its operations on `node:diagnostics_channel`
 * `TracingChannel`s with these names, so an APM agent, a logger or `@tierkit/metrics/tracing` (OpenTelemetry
 * spans) can follow them without a dependency on any tierkit package. Nobody subscribed: the operation pays one
 * property read (`hasSubscribers`) and nothing is allocated.
 *
 * @module
 */
import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel'
import type { CacheLayer, CacheOutcome } from './types.js'

/** The name of each channel (`tracingChannel(name)` gives `tracing:<name>:start`, `…:end`, `…:asyncStart`, `…:asyncEnd`, `…:error`). */
export const TRACING_CHANNEL_NAMES: {
  readonly getOrLoad: 'tierkit:getOrLoad'
  readonly getOrLoadMany: 'tierkit:getOrLoadMany'
  readonly write: 'tierkit:write'
  readonly flush: 'tierkit:flush'
  readonly task: 'tierkit:task'
} = Object.freeze({
  /** A `getOrLoad` of redis-aside or of the tags: one key through L1, L2 and the loader. */
  getOrLoad: 'tierkit:getOrLoad',
  /** A `getOrLoadMany` of redis-aside: many keys in one call. */
  getOrLoadMany: 'tierkit:getOrLoadMany',
  /** A write of @tierkit/invalidation's writers (delete-on-update, write-through, write-behind). */
  write: 'tierkit:write',
  /** A flush of write-behind: a batch of queued writes applied to the store. */
  flush: 'tierkit:flush',
  /** A task of @tierkit/worker-pool, from acceptance to its result. */
  task: 'tierkit:task',
} as const)

/** One of the traced operations. */
export type TracedOperation = keyof typeof TRACING_CHANNEL_NAMES

/**
 * What a channel's events carry: one object per operation, the same object in its `start`, `end`, `asyncStart`,
 * `asyncEnd` and `error` events. The package fills `layer`/`outcome` (and the like) before the operation settles;
 * `TracingChannel` itself sets `result` or `error`.
 */
export interface TraceMessage {
  /** The publishing package, e.g. `'@tierkit/redis-aside'`. */
  readonly package: string
  /** The operation, one of {@link TracedOperation}. */
  readonly operation: TracedOperation
  /** The cache's or the writer's namespace (never the key). */
  readonly namespace?: string
  /** The key: a subscriber decides whether to record it (`@tierkit/metrics/tracing` does not by default). */
  readonly key?: string
  /** How many keys (`getOrLoadMany`) or writes (`flush`). */
  count?: number
  /** The layer that answered (`getOrLoad`). */
  layer?: CacheLayer
  /** What happened there. */
  outcome?: CacheOutcome
  /** The task's name (`task`). */
  readonly task?: string
  /** Milliseconds a task waited in the pool's queue before a thread took it (`task`). */
  waited?: number
  /** Set by `TracingChannel` when the operation rejects or throws. */
  error?: unknown
  /** Set by `TracingChannel` when the operation settles. */
  result?: unknown
}

type Channels = { readonly [K in TracedOperation]: TracingChannel<unknown, TraceMessage> }

/**
 * The channels themselves: `tracingChannel(TRACING_CHANNEL_NAMES.x)` anywhere in the process, whatever copy of
 * this package loaded it, publishes on the same `start`/`end`/`asyncStart`/`asyncEnd`/`error` channels.
 */
export const tracingChannels: Channels = Object.freeze({
  getOrLoad: tracingChannel<unknown, TraceMessage>(TRACING_CHANNEL_NAMES.getOrLoad),
  getOrLoadMany: tracingChannel<unknown, TraceMessage>(TRACING_CHANNEL_NAMES.getOrLoadMany),
  write: tracingChannel<unknown, TraceMessage>(TRACING_CHANNEL_NAMES.write),
  flush: tracingChannel<unknown, TraceMessage>(TRACING_CHANNEL_NAMES.flush),
  task: tracingChannel<unknown, TraceMessage>(TRACING_CHANNEL_NAMES.task),
})

/**
 * Runs `fn` traced on `channel` when someone listens, else just runs it. `message` is built only when traced;
 * `fn` receives it (or `undefined`) so that it can fill in `layer`, `outcome` and the like before it settles.
 */
export function traced<R>(
  channel: TracingChannel<unknown, TraceMessage>,
  message: () => TraceMessage,
  fn: (message: TraceMessage | undefined) => Promise<R>,
): Promise<R> {
  if (!channel.hasSubscribers) return fn(undefined)
  const m = message()
  return channel.tracePromise(() => fn(m), m)
}
