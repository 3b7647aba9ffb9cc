// Main-thread half of the failure protocol written by src/worker-entry.js.
import { TasksLoadError, UnknownTaskError } from './errors.js'

/** Key that marks a failure object thrown by the worker runtime. */
export const WIRE = '__tierkitWorkerPool'

type WireValue = { e: WireError } | { v: unknown }

interface WireError {
  name: string
  message: string
  stack: string | undefined
  cause: WireValue | undefined
  hasCause: boolean
  errors: WireValue[] | undefined
  props: Record<string, unknown>
}

interface WireFailure {
  [WIRE]: 'task' | 'unknown-task' | 'load'
  task: string
  error?: WireValue
  known?: string[]
  file?: string
}

const BUILTIN: Record<string, ErrorConstructor> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
}

/** Whether `value` is a failure object thrown by the worker runtime. */
export function isWireFailure(value: unknown): value is WireFailure {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>)[WIRE] === 'string'
  )
}

/** Turns a failure object back into what the task threw (or the pool error it stands for). */
export function fromWireFailure(failure: WireFailure): unknown {
  const kind = failure[WIRE]
  if (kind === 'unknown-task') return new UnknownTaskError(failure.task, failure.known ?? [])
  const error = failure.error === undefined ? undefined : fromWireValue(failure.error)
  if (kind === 'load') return new TasksLoadError(failure.task, String(failure.file), error)
  return error
}

function fromWireValue(value: WireValue): unknown {
  return 'e' in value ? fromWireError(value.e) : value.v
}

function fromWireError(wire: WireError): Error {
  const cause = wire.hasCause && wire.cause !== undefined ? { cause: fromWireValue(wire.cause) } : undefined
  let err: Error
  if (wire.errors !== undefined) {
    err = new AggregateError(wire.errors.map(fromWireValue), wire.message, cause)
  } else {
    const Ctor = BUILTIN[wire.name] ?? Error
    err = new Ctor(wire.message, cause)
  }
  if (err.name !== wire.name) {
    Object.defineProperty(err, 'name', {
      value: wire.name,
      writable: true,
      configurable: true,
      enumerable: false,
    })
  }
  if (wire.stack !== undefined) {
    Object.defineProperty(err, 'stack', {
      value: wire.stack,
      writable: true,
      configurable: true,
      enumerable: false,
    })
  }
  Object.assign(err, wire.props)
  return err
}
