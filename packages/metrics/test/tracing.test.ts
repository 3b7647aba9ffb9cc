// @tierkit/metrics/tracing against the real OpenTelemetry SDK (sdk-trace-base's in-memory exporter): spans for
// the tierkit tracing channels, published here through @tierkit/contracts' `traced` exactly as the packages do.
import { context, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import {
  TierkitError,
  TierkitTypeError,
  type TraceMessage,
  traced,
  tracingChannels,
} from '@tierkit/contracts'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import {
  OTEL_SPAN_ATTRIBUTES as A,
  type OpenTelemetryTracing,
  registerOpenTelemetryTracing,
} from '../src/tracing.js'

const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const tracer = provider.getTracer('test')
let registration: OpenTelemetryTracing | undefined
// what the NodeSDK registers: without a context manager there is no active span to be a child of
beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
})
afterAll(() => {
  context.disable()
})
afterEach(() => {
  registration?.unregister()
  registration = undefined
  exporter.reset()
})

const hit = (key: string, layer: 'l1' | 'l2' | 'db', outcome: 'hit' | 'miss' | 'stale') =>
  traced(
    tracingChannels.getOrLoad,
    (): TraceMessage => ({
      package: '@tierkit/redis-aside',
      operation: 'getOrLoad',
      namespace: 'products',
      key,
    }),
    async (m) => {
      await new Promise((r) => setImmediate(r))
      if (m) {
        m.layer = layer
        m.outcome = outcome
      }
      return `value of ${key}`
    },
  )

describe('registerOpenTelemetryTracing', () => {
  test('one span per getOrLoad with the layer that answered, the outcome and the namespace, never the key', async () => {
    registration = registerOpenTelemetryTracing({ tracer })
    await expect(hit('product:42', 'l2', 'hit')).resolves.toBe('value of product:42')
    await hit('product:7', 'l1', 'stale')
    const spans = exporter.getFinishedSpans()
    expect(spans.map((s) => s.name)).toEqual(['tierkit.getOrLoad', 'tierkit.getOrLoad'])
    expect(spans[0]!.attributes).toEqual({
      [A.package]: '@tierkit/redis-aside',
      [A.namespace]: 'products',
      [A.layer]: 'l2',
      [A.outcome]: 'hit',
    })
    expect(spans[1]!.attributes[A.outcome]).toBe('stale')
    expect(JSON.stringify(spans.map((s) => s.attributes))).not.toContain('product:')
    expect(spans[0]!.status.code).toBe(SpanStatusCode.UNSET)
  })

  test('recordKeys: true puts the key on the span', async () => {
    registration = registerOpenTelemetryTracing({ tracer, recordKeys: true })
    await hit('product:42', 'db', 'miss')
    expect(exporter.getFinishedSpans()[0]!.attributes[A.key]).toBe('product:42')
  })

  test('a rejected operation: error status, error.type is the tierkit code, the exception is recorded', async () => {
    registration = registerOpenTelemetryTracing({ tracer })
    class LoaderDown extends TierkitError<'E_LOADER_DOWN'> {
      constructor() {
        super('E_LOADER_DOWN', 'the database is down')
      }
    }
    const failing = traced(
      tracingChannels.write,
      (): TraceMessage => ({ package: '@tierkit/invalidation', operation: 'write', namespace: 'orders' }),
      async () => {
        throw new LoaderDown()
      },
    )
    await expect(failing).rejects.toBeInstanceOf(LoaderDown)
    const [span] = exporter.getFinishedSpans()
    expect(span!.name).toBe('tierkit.write')
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'the database is down' })
    expect(span!.attributes[A.errorType]).toBe('E_LOADER_DOWN')
    expect(span!.events.map((e) => e.name)).toEqual(['exception'])
  })

  test('a thrown non-Error: error.type _OTHER, the status message is the value, no exception event', async () => {
    registration = registerOpenTelemetryTracing({ tracer })
    const failing = traced(
      tracingChannels.task,
      (): TraceMessage => ({ package: '@tierkit/worker-pool', operation: 'task', task: 'crunch' }),
      async () => Promise.reject('plain string'),
    )
    await expect(failing).rejects.toBe('plain string')
    const [span] = exporter.getFinishedSpans()
    expect(span!.attributes).toMatchObject({ [A.errorType]: '_OTHER', [A.task]: 'crunch' })
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'plain string' })
    expect(span!.events).toHaveLength(0)
  })

  test('without a tracer: spans go to the global TracerProvider', async () => {
    const own = new InMemorySpanExporter()
    const global = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(own)] })
    trace.setGlobalTracerProvider(global)
    try {
      registration = registerOpenTelemetryTracing()
      await hit('k', 'l1', 'hit')
      expect(own.getFinishedSpans().map((s) => s.name)).toEqual(['tierkit.getOrLoad'])
    } finally {
      trace.disable()
    }
  })

  test('a synchronous throw inside the traced function still ends its span', async () => {
    registration = registerOpenTelemetryTracing({ tracer })
    const bad = () =>
      tracingChannels.flush.tracePromise(
        () => {
          throw new RangeError('sync')
        },
        { package: '@tierkit/invalidation', operation: 'flush', count: 3 } as TraceMessage,
      )
    expect(bad).toThrow(RangeError)
    const [span] = exporter.getFinishedSpans()
    expect(span!.attributes).toMatchObject({ [A.errorType]: 'RangeError', [A.count]: 3 })
  })

  test('the span is a child of the span active at the call', async () => {
    registration = registerOpenTelemetryTracing({ tracer })
    const parent = tracer.startSpan('request')
    await context.with(trace.setSpan(context.active(), parent), () => hit('k', 'l1', 'hit'))
    parent.end()
    const child = exporter.getFinishedSpans().find((s) => s.name === 'tierkit.getOrLoad')!
    expect(child.parentSpanContext?.spanId).toBe(parent.spanContext().spanId)
    expect(child.spanContext().traceId).toBe(parent.spanContext().traceId)
  })

  test('operations limits what is traced; unregister stops it and is idempotent', async () => {
    registration = registerOpenTelemetryTracing({ tracer, operations: ['task'] })
    await hit('k', 'l1', 'hit')
    expect(exporter.getFinishedSpans()).toHaveLength(0)
    expect(tracingChannels.task.hasSubscribers).toBe(true)
    registration.unregister()
    registration.unregister()
    expect(tracingChannels.task.hasSubscribers).toBe(false)
    expect(tracingChannels.getOrLoad.hasSubscribers).toBe(false)
  })

  test('bad options are typed errors', () => {
    const bad = [
      { tracer: 42 },
      { recordKeys: 'yes' },
      { operations: 'task' },
      { operations: ['getOrLoad', 'purge'] },
      { operations: ['__proto__'] },
    ]
    for (const options of bad) {
      expect(() => registerOpenTelemetryTracing(options as never)).toThrow(TierkitTypeError)
    }
    expect(() => registerOpenTelemetryTracing(null as never)).toThrow(TierkitTypeError)
    expect(tracingChannels.getOrLoad.hasSubscribers).toBe(false)
  })
})
