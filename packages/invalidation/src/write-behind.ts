/**
 * Write-behind, the public part: the writer (`writeBehind`), the flusher (`createFlusher`), the queue's
 * keys and its dead letters, with their types. The rooms behind it are in `./write-behind/` (see the
 * README's "Inside" section).
 */
export type { DeadLetter } from './write-behind/dead-letters.js'
export { readDeadLetters, requeueDeadLetters } from './write-behind/dead-letters.js'
export { createFlusher } from './write-behind/flusher.js'
export { type QueueKeys, queueKeys } from './write-behind/keys.js'
export type {
  Flusher,
  FlusherEvent,
  FlusherOptions,
  FlusherStats,
  QueuedWrite,
  WriteBehind,
  WriteBehindEvent,
  WriteBehindOptions,
} from './write-behind/types.js'
export { writeBehind } from './write-behind/writer.js'
