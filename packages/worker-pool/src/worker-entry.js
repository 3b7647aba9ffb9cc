// Worker-side runtime of @tierkit/worker-pool, loaded by tinypool in every worker thread.
//
// Plain JavaScript on purpose: a worker thread on Node 20 cannot load TypeScript (loader hooks registered in the
// parent do not reach it), so this file is shipped as-is (tsdown copies it to dist/) and also runs from src/ in
// the package's own tests. It loads the user's tasks module (natively, or through tsx's `tsImport` for a .ts
// file), checks that it is a `defineTasks()` set, and wraps every task so that whatever it throws crosses the
// thread boundary with its name, message, stack, `cause` and own properties (structured clone keeps only part
// of that). Protocol: a failure is thrown as a plain object `{ [WIRE]: kind, ... }`; see src/wire.ts.
import { workerData } from 'node:worker_threads'

const TASKS = Symbol.for('@tierkit/worker-pool.tasks')
const WIRE = '__tierkitWorkerPool'
const MAX_DEPTH = 8

const config = Array.isArray(workerData) && workerData[1] ? workerData[1][WIRE] : undefined

/** @param {unknown} value */
function isError(value) {
  return value instanceof Error || Object.prototype.toString.call(value) === '[object Error]'
}

/** @param {unknown} value */
function cloneable(value) {
  if (
    value === null ||
    (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')
  ) {
    return value
  }
  try {
    return structuredClone(value)
  } catch {
    try {
      return String(value)
    } catch {
      return '[uncloneable]'
    }
  }
}

/**
 * @param {unknown} value
 * @param {number} depth
 * @returns {{ e: object } | { v: unknown }}
 */
function toWireValue(value, depth) {
  if (depth < MAX_DEPTH && isError(value)) {
    try {
      return { e: toWireError(/** @type {Error & Record<string, unknown>} */ (value), depth) }
    } catch {
      // a hostile getter: fall through to a plain value
    }
  }
  return { v: cloneable(value) }
}

/**
 * @param {Error & Record<string, unknown>} err
 * @param {number} depth
 */
function toWireError(err, depth) {
  /** @type {Record<string, unknown>} */
  const props = {}
  for (const key of Object.keys(err)) {
    if (key === 'cause' || key === 'errors' || key === 'name' || key === 'message' || key === 'stack')
      continue
    props[key] = cloneable(err[key])
  }
  return {
    name: String(err.name),
    message: String(err.message),
    stack: typeof err.stack === 'string' ? err.stack : undefined,
    cause: 'cause' in err ? toWireValue(err.cause, depth + 1) : undefined,
    hasCause: 'cause' in err,
    errors: Array.isArray(err.errors) ? err.errors.map((e) => toWireValue(e, depth + 1)) : undefined,
    props,
  }
}

/**
 * @param {string} name
 * @param {(arg: unknown) => unknown} fn
 */
function wrap(name, fn) {
  /** @param {unknown} err */
  const fail = (err) => {
    throw { [WIRE]: 'task', task: name, error: toWireValue(err, 0) }
  }
  /** @param {unknown} arg */
  return function runTask(arg) {
    let result
    try {
      result = fn(arg)
    } catch (err) {
      fail(err)
    }
    if (result !== null && (typeof result === 'object' || typeof result === 'function')) {
      const then = /** @type {{ then?: unknown }} */ (result).then
      if (typeof then === 'function') return Promise.resolve(result).then(undefined, fail)
    }
    return result
  }
}

async function load() {
  if (config === undefined) throw new Error('this worker was not started by @tierkit/worker-pool')
  let mod
  if (config.loader === 'tsx') {
    let api
    try {
      api = await import('tsx/esm/api')
    } catch (err) {
      throw new Error(`loading a TypeScript tasks file needs the optional peer dependency "tsx": ${err}`, {
        cause: err,
      })
    }
    mod = await api.tsImport(config.url, import.meta.url)
  } else {
    mod = await import(config.url)
  }
  let set = mod.default
  // a .ts file tsx treats as CommonJS exposes `export default` one level down
  if (set && !set[TASKS] && set.default?.[TASKS]) set = set.default
  if (set?.[TASKS] !== true) {
    throw new TypeError('the tasks module must `export default defineTasks({ ... })`')
  }
  /** @type {Record<string, (arg: unknown) => unknown>} */
  const handlers = Object.create(null)
  for (const name of Object.keys(set)) handlers[name] = wrap(name, set[name])
  return handlers
}

/** @type {Record<string, (arg: unknown) => unknown>} */
let handlers = Object.create(null)
/** @type {unknown} */
let loadError
let loadFailed = false
try {
  handlers = await load()
} catch (err) {
  loadFailed = true
  loadError = err
}

/** @param {string} name */
function missing(name) {
  return () => {
    if (loadFailed) throw { [WIRE]: 'load', task: name, file: config?.url, error: toWireValue(loadError, 0) }
    throw { [WIRE]: 'unknown-task', task: name, known: Object.keys(handlers) }
  }
}

// tinypool resolves a task as `(await import(entry)).default[name]`.
export default new Proxy(handlers, {
  get(_target, name) {
    if (typeof name !== 'string') return undefined
    return (!loadFailed && handlers[name]) || missing(name)
  },
})
