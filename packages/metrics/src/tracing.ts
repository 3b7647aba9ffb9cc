/**
 * `@tierkit/metrics/tracing`: OpenTelemetry spans for the tierkit tracing channels (`node:diagnostics_channel`
 * `TracingChannel`s named in `@tierkit/contracts`): one span per `getOrLoad`, `getOrLoadMany`, write, flush and
 * worker task, with the layer that answered, hit/miss/stale, the namespace (the key only when asked) and errors.
 * Through `@tierkit/contracts` only: it needs no tierkit package to be loaded, and none of them imports it.
 *
 * @module
 */
import {
  type Attributes,
  context as otelContext,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import {
  checkObject,
  checkOneOf,
  invalidArgument,
  TRACING_CHANNEL_NAMES,
  type TracedOperation,
  type TraceMessage,
  tracingChannels,
} from '@tierkit/contracts'

/** Span attribute names (there is no OpenTelemetry semantic convention for caches yet). */
export const OTEL_SPAN_ATTRIBUTES: {
  readonly package: 'tierkit.package'
  readonly namespace: 'tierkit.cache.namespace'
  readonly key: 'tierkit.cache.key'
  readonly layer: 'tierkit.cache.layer'
  readonly outcome: 'tierkit.cache.outcome'
  readonly count: 'tierkit.count'
  readonly task: 'tierkit.task.name'
  readonly waited: 'tierkit.task.waited'
  readonly errorType: 'error.type'
} = Object.freeze({
  package: 'tierkit.package',
  namespace: 'tierkit.cache.namespace',
  key: 'tierkit.cache.key',
  layer: 'tierkit.cache.layer',
  outcome: 'tierkit.cache.outcome',
  count: 'tierkit.count',
  task: 'tierkit.task.name',
  waited: 'tierkit.task.waited',
  errorType: 'error.type',
} as const)

/** Options of {@link registerOpenTelemetryTracing}. */
export interface OpenTelemetryTracingOptions {
  /** The tracer spans are made with. @default `trace.getTracer('@tierkit/metrics')` (the global TracerProvider) */
  tracer?: Tracer
  /** Which operations to trace. @default all of `TRACING_CHANNEL_NAMES` */
  operations?: readonly TracedOperation[]
  /**
   * Puts the key itself on the span (`tierkit.cache.key`). Keys often hold ids or personal data, so by default
   * only the namespace is recorded. @default false
   */
  recordKeys?: boolean
}

/** What {@link registerOpenTelemetryTracing} returns. */
export interface OpenTelemetryTracing {
  /** Stops making spans (idempotent); spans already started still end. */
  unregister(): void
}

const OPERATIONS = Object.keys(TRACING_CHANNEL_NAMES) as TracedOperation[]

type Handlers = {
  start(message: TraceMessage): void
  end(message: TraceMessage): void
  asyncStart(message: TraceMessage): void
  asyncEnd(message: TraceMessage): void
  error(message: TraceMessage): void
}

/** `error.type`: the tierkit `code`, else the error's `name`, else `'_OTHER'` (the OpenTelemetry fallback). */
function errorType(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown }
    if (typeof code === 'string' && code !== '') return code
    if (typeof name === 'string' && name !== '') return name
  }
  return '_OTHER'
}

function finalAttributes(message: TraceMessage): Attributes {
  const a = OTEL_SPAN_ATTRIBUTES
  const out: Attributes = {}
  if (message.layer !== undefined) out[a.layer] = message.layer
  if (message.outcome !== undefined) out[a.outcome] = message.outcome
  if (message.count !== undefined) out[a.count] = message.count
  if (message.waited !== undefined) out[a.waited] = message.waited
  return out
}

function startAttributes(message: TraceMessage, recordKeys: boolean): Attributes {
  const a = OTEL_SPAN_ATTRIBUTES
  const out: Attributes = { [a.package]: message.package }
  if (message.namespace !== undefined) out[a.namespace] = message.namespace
  if (message.task !== undefined) out[a.task] = message.task
  if (recordKeys && message.key !== undefined) out[a.key] = message.key
  return out
}

function handlersFor(operation: TracedOperation, tracer: Tracer, recordKeys: boolean): Handlers {
  const spans = new WeakMap<TraceMessage, Span>()
  const finish = (message: TraceMessage): void => {
    const span = spans.get(message)
    if (span === undefined) return
    spans.delete(message)
    span.setAttributes(finalAttributes(message))
    if ('error' in message) {
      const error = message.error
      span.setAttribute(OTEL_SPAN_ATTRIBUTES.errorType, errorType(error))
      if (error instanceof Error) span.recordException(error)
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : String(error),
      })
    }
    span.end()
  }
  return {
    start(message) {
      const attributes = startAttributes(message, recordKeys)
      const options = { kind: SpanKind.INTERNAL, attributes }
      spans.set(message, tracer.startSpan(`tierkit.${operation}`, options, otelContext.active()))
    },
    // a synchronous throw publishes `error` then `end`, and no async events follow
    end(message) {
      if ('error' in message) finish(message)
    },
    asyncStart() {},
    asyncEnd: finish,
    error() {},
  }
}

/**
 * Subscribes to the tierkit tracing channels and turns each operation into an OpenTelemetry span named
 * `tierkit.<operation>` (`tierkit.getOrLoad`, `tierkit.task`, …), a child of the context active where the call
 * was made. Attributes: {@link OTEL_SPAN_ATTRIBUTES}; a failed operation gets `error.type`, the exception and an
 * error status. Spans the loader or the task makes are not children of it (the channels carry no context).
 * @throws TierkitTypeError for bad options.
 * @example
 * ```ts
 * import { registerOpenTelemetryTracing } from '@tierkit/metrics/tracing'
 * const tracing = registerOpenTelemetryTracing({ recordKeys: false })
 * // … later
 * tracing.unregister()
 * ```
 */
export function registerOpenTelemetryTracing(
  options: OpenTelemetryTracingOptions = {},
): OpenTelemetryTracing {
  const method = 'registerOpenTelemetryTracing'
  checkObject(method, 'options', options)
  const tracer = options.tracer ?? trace.getTracer('@tierkit/metrics')
  if (typeof tracer.startSpan !== 'function')
    throw invalidArgument(method, 'options.tracer', 'a Tracer', tracer)
  if (options.recordKeys !== undefined && typeof options.recordKeys !== 'boolean')
    throw invalidArgument(method, 'options.recordKeys', 'a boolean', options.recordKeys)
  const operations = options.operations ?? OPERATIONS
  if (!Array.isArray(operations)) throw invalidArgument(method, 'options.operations', 'an array', operations)
  const checked = (operations as unknown[]).map((op, i) =>
    checkOneOf(method, `options.operations[${i}]`, op, OPERATIONS),
  )
  const subscribed = [...new Set(checked)].map((op) => {
    const handlers = handlersFor(op, tracer, options.recordKeys === true)
    tracingChannels[op].subscribe(handlers)
    return () => tracingChannels[op].unsubscribe(handlers)
  })
  let done = false
  return {
    unregister() {
      if (done) return
      done = true
      for (const off of subscribed) off()
    },
  }
}
