/**
 * `@tierkit/contracts`: what the tierkit packages share, in one small stable package: the structural
 * interfaces where they meet, the layer and outcome names, the one error base, the argument checks with one
 * message shape, and the exact serializer.
 *
 * @packageDocumentation
 */
export {
  checkDuration,
  checkFunction,
  checkInteger,
  checkLimit,
  checkMethods,
  checkNumber,
  checkObject,
  checkOneOf,
  checkSignal,
  checkString,
  checkStrings,
  checkTimeout,
  checkTtl,
  closeTimeout,
  describeValue,
  invalidArgument,
  MAX_TIMER_MS,
  MAX_TTL_MS,
  oneOfRule,
  refuseRenamed,
} from './args.js'
export { coarseNow } from './clock.js'
export {
  AbortedError,
  ClosedError,
  type ContractsErrorCode,
  CorruptPayloadError,
  errors,
  isTierkitError,
  type PermissionDenied,
  PermissionError,
  TierkitError,
  type TierkitErrorOptions,
  TierkitTypeError,
  UnserializableValueError,
} from './errors.js'
export { exactSerializer, type Serializer } from './serializer.js'
export {
  TRACING_CHANNEL_NAMES,
  type TracedOperation,
  type TraceMessage,
  traced,
  tracingChannels,
} from './tracing.js'
export {
  CACHE_LAYERS,
  CACHE_OUTCOMES,
  type CacheLayer,
  type CacheObserver,
  type CacheOutcome,
  type CacheStats,
  type CloseOptions,
  type L1Store,
  type LoaderContext,
  type Store,
  type StoreWrite,
  type WritableCache,
  type WriteContext,
} from './types.js'
