/**
 * `@tierkit/contracts/redis`: the one small Redis client interface the tierkit packages speak, and the adapter
 * that gives it to whichever client a service passes: ioredis (`Redis`, `Cluster`), iovalkey (an ioredis fork, the
 * same shape) or node-redis (`redis` / `@redis/client` 5 and 6). The interface is ioredis's own shape for the
 * commands actually used (GET/MGET/SET, EVAL/EVALSHA, streams, pub/sub, `call` for the rest, CLIENT TRACKING
 * through `call`), so an ioredis or iovalkey client is used as it is, with no wrapper and no cost; a node-redis
 * client is wrapped once ({@link toRedisLike}). No client library is imported: detection is structural.
 */
import { EventEmitter } from 'node:events'
import { invalidArgument } from './args.js'
import { PermissionError, TierkitError } from './errors.js'

/** The client families told apart by {@link detectRedisClient}. iovalkey is `'ioredis'` (the same shape). */
export type RedisClientKind =
  | 'ioredis'
  | 'ioredis-cluster'
  | 'node-redis'
  | 'node-redis-cluster'
  | 'node-redis-sentinel'

/** An argument of a command. */
export type RedisArgument = string | number | Buffer

/** Options of {@link RedisLike.duplicate}, ioredis's names. */
export interface RedisDuplicateOptions {
  /** Connect on the first command instead of now. */
  lazyConnect?: boolean
  /** Queue commands while disconnected (`false`: reject them at once). */
  enableOfflineQueue?: boolean
  /** Subscribe again after a reconnection (node-redis always does: its listeners are kept). */
  autoResubscribe?: boolean
  /** Delay before reconnection attempt `times` (1, 2, ...), or `null` to stop and end the connection. */
  retryStrategy?: (times: number) => number | null | undefined
  /** RESP version of the new connection. */
  protocol?: 2 | 3
}

/** A listener of a {@link RedisLike} event. */
// biome-ignore lint/suspicious/noExplicitAny: event listeners take what each event passes
export type RedisListener = (...args: any[]) => void

/**
 * What tierkit calls on a Redis client: ioredis's shape, replies as RESP2 gives them (bulk strings as strings,
 * maps as flat arrays, nil as `null`). Events: `ready`, `close` (the connection is down), `reconnecting`, `end`
 * (no more attempts), `error`, `message` (channel, message) and `messageBuffer` (the same as Buffers).
 */
export interface RedisLike {
  /** `wait` (not connected yet), `connecting`, `ready`, `reconnecting` or `end`. */
  readonly status: string
  /** True for a cluster client. */
  readonly isCluster?: boolean
  call(command: string, ...args: RedisArgument[]): Promise<unknown>
  get(key: string): Promise<string | null>
  mget(...keys: string[]): Promise<Array<string | null>>
  set(key: string, value: RedisArgument, ...args: RedisArgument[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: RedisArgument[]): Promise<unknown>
  evalsha(sha: string, numKeys: number, ...args: RedisArgument[]): Promise<unknown>
  publish(channel: string, message: string): Promise<unknown>
  subscribe(...channels: string[]): Promise<unknown>
  unsubscribe(...channels: string[]): Promise<unknown>
  xgroup(...args: RedisArgument[]): Promise<unknown>
  xreadgroup(...args: RedisArgument[]): Promise<unknown>
  xautoclaim(...args: RedisArgument[]): Promise<unknown>
  xinfo(...args: RedisArgument[]): Promise<unknown>
  /** A new connection with the same settings (and these), owned by the caller. */
  duplicate(options?: RedisDuplicateOptions): RedisLike
  connect(): Promise<unknown>
  /** Closes at once, pending commands rejected. */
  disconnect(reconnect?: boolean): void
  /** Closes after the pending commands. */
  quit(): Promise<unknown>
  on(event: string, listener: RedisListener): this
  once(event: string, listener: RedisListener): this
  off(event: string, listener: RedisListener): this
  removeAllListeners(event?: string): this
}

/**
 * What a node-redis 5 or 6 client (`createClient()` of `redis` / `@redis/client`) looks like to the options
 * that take one (structurally; no import of the library).
 */
export interface NodeRedisClientLike {
  readonly isOpen: boolean
  // biome-ignore lint/suspicious/noExplicitAny: node-redis's own argument and option types
  sendCommand(args: ReadonlyArray<any>, options?: any): Promise<unknown>
}

/**
 * An ioredis-compatible client, structurally: ioredis's or iovalkey's `Redis` or `Cluster` (iovalkey's classes
 * are not ioredis's, so an option typed with ioredis's alone refuses them at compile time). What
 * {@link detectRedisClient} recognises as `ioredis`.
 */
export interface IoredisLike {
  /** `wait`, `connecting`, `ready`, `reconnecting` or `end`. */
  readonly status: string
  // biome-ignore lint/suspicious/noExplicitAny: the libraries' own overloads
  call(...args: any[]): Promise<unknown>
  // biome-ignore lint/suspicious/noExplicitAny: the libraries' own overloads
  duplicate(...args: any[]): unknown
}

/** Every client a tierkit option named `redis` takes. */
export type AnyRedisClient = RedisLike | IoredisLike | NodeRedisClientLike

/**
 * A client recognised but not supported (yet) where it was passed: code `E_UNSUPPORTED_CLIENT`; `client` is the
 * kind, `alternative` what to pass instead.
 */
export class UnsupportedClientError extends TierkitError<'E_UNSUPPORTED_CLIENT'> {
  /** The kind of client that was passed. */
  readonly client: RedisClientKind
  /** What works instead. */
  readonly alternative: string

  /**
   * @param client - the kind of client that was passed
   * @param alternative - what works instead
   */
  constructor(client: RedisClientKind, alternative: string) {
    super('E_UNSUPPORTED_CLIENT', `a ${client} client is not supported here; ${alternative}`)
    this.client = client
    this.alternative = alternative
  }
}

/** The server families told apart by {@link serverOf}. */
export type RedisServerName = 'redis' | 'valkey' | 'dragonfly' | 'keydb' | 'unknown'

/**
 * Which server answered `INFO server` (its text): `dragonfly_version` names Dragonfly, `valkey_version` Valkey,
 * a `# KeyDB` section KeyDB, `redis_version` alone Redis; `version` is that field's value.
 */
export function serverOf(info: string): { name: RedisServerName; version: string | undefined } {
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}:([^\r\n]*)`, 'm').exec(info)?.[1]?.trim()
  const dragonfly = field('dragonfly_version')
  if (dragonfly !== undefined) return { name: 'dragonfly', version: dragonfly }
  const valkey = field('valkey_version')
  if (valkey !== undefined) return { name: 'valkey', version: valkey }
  const redis = field('redis_version')
  if (/^# KeyDB/m.test(info)) return { name: 'keydb', version: redis }
  return redis === undefined ? { name: 'unknown', version: undefined } : { name: 'redis', version: redis }
}

/**
 * The server lacks what a feature needs (Dragonfly's CLIENT TRACKING has no REDIRECT, BCAST or PREFIX): code
 * `E_UNSUPPORTED_SERVER`; `server` names it, `missing` says what it lacks, `alternative` what to use instead.
 */
export class UnsupportedServerError extends TierkitError<'E_UNSUPPORTED_SERVER'> {
  /** The server that answered. */
  readonly server: RedisServerName
  /** What it lacks. */
  readonly missing: string
  /** What works instead. */
  readonly alternative: string

  /**
   * @param server - the server that answered
   * @param missing - what it lacks
   * @param alternative - what works instead
   */
  constructor(server: RedisServerName, missing: string, alternative: string) {
    super('E_UNSUPPORTED_SERVER', `${server} has no ${missing}; ${alternative}`)
    this.server = server
    this.missing = missing
    this.alternative = alternative
  }
}

const isFn = (o: Record<string, unknown>, name: string): boolean => typeof o[name] === 'function'

/**
 * Which client `client` is, from its shape (no library is imported), or `undefined` for anything else.
 * ioredis and iovalkey: `call`, `duplicate` and a string `status`; node-redis: `sendCommand` and a boolean
 * `isOpen`, a cluster having `masters` as well, a Sentinel client (`createSentinel()`) `getSentinelNode`.
 */
export function detectRedisClient(client: unknown): RedisClientKind | undefined {
  if (client === null || typeof client !== 'object') return undefined
  const c = client as Record<string, unknown>
  if (isFn(c, 'call') && isFn(c, 'duplicate') && typeof c.status === 'string') {
    return c.isCluster === true ? 'ioredis-cluster' : 'ioredis'
  }
  if (isFn(c, 'sendCommand') && typeof c.isOpen === 'boolean') {
    if (Array.isArray(c.masters)) return 'node-redis-cluster'
    // createSentinel(): its sendCommand takes (isReadonly, args, options), and it pools its connections
    if (isFn(c, 'getSentinelNode') || isFn(c, 'getMasterNode')) return 'node-redis-sentinel'
    return 'node-redis'
  }
  return undefined
}

/** The RESP3 types mapped to the shapes RESP2 replies have (maps and sets as flat arrays, doubles as strings). */
const RESP2_SHAPES: Readonly<Record<number, unknown>> = Object.freeze({
  37: Array, // MAP
  126: Array, // SET
  44: String, // DOUBLE
  40: String, // BIG_NUMBER
})

/** The parts of a node-redis client the adapter uses. */
interface NodeRedisClient {
  readonly isOpen: boolean
  readonly isReady: boolean
  readonly options?: Record<string, unknown>
  sendCommand(args: ReadonlyArray<string | Buffer>, options?: Record<string, unknown>): Promise<unknown>
  subscribe(
    channels: string,
    listener: (message: Buffer, channel: Buffer) => void,
    buffers: true,
  ): Promise<void>
  unsubscribe(
    channels: string,
    listener: (message: Buffer, channel: Buffer) => void,
    buffers: true,
  ): Promise<void>
  duplicate(overrides?: Record<string, unknown>): NodeRedisClient
  connect(): Promise<unknown>
  destroy(): void
  close(): Promise<void>
  on(event: string, listener: RedisListener): unknown
  off(event: string, listener: RedisListener): unknown
}

const noop = (): void => {}

/** node-redis's error replies (`ErrorReply` and its `SimpleError`, `BlobError`). */
const REPLY_ERRORS: ReadonlySet<string> = new Set(['ErrorReply', 'SimpleError', 'BlobError'])

/**
 * The server's error reply in ioredis's shape: `name` is `'ReplyError'` (how the packages tell a refused
 * command, Redis up, from a connection failure), the message is the server's, `cause` node-redis's error; a
 * permission denial is the {@link PermissionError} of {@link classifyRedisError}.
 */
function asReplyError(e: unknown, command: string): unknown {
  if (!(e instanceof Error) || !REPLY_ERRORS.has(e.constructor.name)) return e
  const reply = new Error(e.message, { cause: e })
  reply.name = 'ReplyError'
  return classifyRedisError(reply, command)
}

/** What a denial's message says was refused (`undefined`: not a denial). */
function deniedOf(message: string): 'command' | 'key' | 'channel' | undefined {
  if (message.startsWith('NOPERM')) {
    if (/\bkeys?\b/.test(message)) return 'key'
    if (/\bchannels?\b/.test(message)) return 'channel'
    return 'command'
  }
  // a command a script runs (Redis 7): `ERR The user executing the script can't run this command ...`,
  // `... can't access at least one of the keys ...`, `... channels ...`
  const m =
    /The user executing the script can't (run this command|access at least one of the (keys|channels))/.exec(
      message,
    )
  if (m === null) return undefined
  return m[2] === 'keys' ? 'key' : m[2] === 'channels' ? 'channel' : 'command'
}

/**
 * The one place a Redis error is classified: a permission denial by the ACL (`NOPERM ...`, or a script's
 * `ERR The user executing the script can't ...`) becomes a {@link PermissionError} naming the command (from
 * Redis's message when it names one, `client|tracking`; else the command ioredis attached to its reply error,
 * else `command`); any other error is returned as it is. Idempotent.
 * @param e - what a call rejected with
 * @param command - the command sent, when the error cannot tell (lower-cased)
 * @param scriptCommands - for a script: the commands it runs, kept on the error when the script's own command
 *   was refused (Redis does not say which one)
 */
export function classifyRedisError(
  e: unknown,
  command?: string,
  scriptCommands?: readonly string[],
): unknown {
  if (e instanceof PermissionError) return withScriptCommands(e, scriptCommands)
  if (!(e instanceof Error) || e.name !== 'ReplyError') return e
  const denied = deniedOf(e.message)
  if (denied === undefined) return e
  const named = /run the '([^']+)' command/.exec(e.message)?.[1]
  const attached = (e as { command?: { name?: unknown } }).command?.name
  const name = named ?? (typeof attached === 'string' ? attached : command) ?? 'unknown'
  const inScript = e.message.includes('The user executing the script')
  return new PermissionError(name.toLowerCase(), denied, e, inScript ? scriptCommands : undefined)
}

/**
 * A denial classified before the caller knew it was a script's (the node-redis adapter classifies every reply),
 * with the script's commands the caller gives; any other as it is.
 */
function withScriptCommands(
  e: PermissionError,
  scriptCommands: readonly string[] | undefined,
): PermissionError {
  const reply = e.cause as Error | undefined
  if (scriptCommands === undefined || e.scriptCommands !== undefined) return e
  if (!String(reply?.message).includes('The user executing the script')) return e
  return new PermissionError(e.command, e.denied, reply, scriptCommands)
}

/**
 * Redis answered the call with an error (a refused command, `OOM`, `READONLY`, `NOSCRIPT`, a denied
 * permission): Redis is up, unlike a connection failure or a timeout.
 */
export function isReplyError(e: unknown): boolean {
  return e instanceof PermissionError || (e as Error)?.name === 'ReplyError'
}

const toArg = (a: RedisArgument): string | Buffer => (typeof a === 'number' ? String(a) : a)

/** XREAD / XREADGROUP: RESP3 answers a map stream → entries (flat here); RESP2 an array of [stream, entries]. */
function streamPairs(reply: unknown): unknown {
  if (!Array.isArray(reply) || reply.length === 0 || Array.isArray(reply[0])) return reply
  const pairs: unknown[] = []
  for (let i = 0; i < reply.length; i += 2) pairs.push([reply[i], reply[i + 1]])
  return pairs
}

/** How ioredis's `retryStrategy` reads as node-redis's `reconnectStrategy` (its `retries` count from 0). */
function reconnectStrategy(retry: (times: number) => number | null | undefined) {
  return (retries: number): number | false => {
    const delay = retry(retries + 1)
    return typeof delay === 'number' && Number.isFinite(delay) ? Math.max(0, delay) : false
  }
}

/** The node-redis options of a duplicate asked with ioredis's names. */
function duplicateOverrides(client: NodeRedisClient, o: RedisDuplicateOptions): Record<string, unknown> {
  const overrides: Record<string, unknown> = {}
  if (o.protocol !== undefined) overrides.RESP = o.protocol
  // RESP2 has no push messages: what needs them is off on a RESP2 duplicate (node-redis refuses it otherwise)
  if (o.protocol === 2) {
    if (client.options?.maintNotifications !== undefined) overrides.maintNotifications = 'disabled'
    if (client.options?.clientSideCache !== undefined) overrides.clientSideCache = undefined
    if (client.options?.emitInvalidate !== undefined) overrides.emitInvalidate = undefined
  }
  if (o.enableOfflineQueue === false) overrides.disableOfflineQueue = true
  if (o.retryStrategy !== undefined) {
    const socket = (client.options?.socket ?? {}) as Record<string, unknown>
    overrides.socket = { ...socket, reconnectStrategy: reconnectStrategy(o.retryStrategy) }
  }
  return overrides
}

/**
 * A node-redis client in ioredis's shape. The client passed by a service is used as it is (connected now if it
 * is not open, as ioredis does); `duplicate()` makes connections the caller owns and closes.
 */
class NodeRedisAdapter extends EventEmitter implements RedisLike {
  readonly isCluster = false
  readonly #client: NodeRedisClient
  #state: 'wait' | 'connecting' | 'ready' | 'reconnecting' | 'end'
  #up = false
  #connecting: Promise<unknown> | undefined
  readonly #channels = new Set<string>()
  // a null payload (the invalidation of a flushed database, RESP2) is passed on as ioredis does: `null` to
  // messageBuffer, `''` to message
  readonly #onMessage = (message: Buffer | null, channel: Buffer): void => {
    this.emit('messageBuffer', channel, message)
    this.emit('message', channel.toString(), message === null ? '' : message.toString())
  }

  constructor(client: NodeRedisClient, lazy: boolean) {
    super()
    this.#client = client
    this.#state = client.isReady ? 'ready' : client.isOpen ? 'connecting' : 'wait'
    this.#up = client.isReady
    this.#listen()
    if (!lazy) this.#ensure()
  }

  /** Connects a client that never was (ioredis connects on creation, or on the first command when lazy). */
  #ensure(): void {
    // a failed attempt is reported through `error` and retried by the client's own strategy
    if (this.#state === 'wait' && !this.#client.isOpen) this.connect().catch(noop)
  }

  #listen(): void {
    const c = this.#client
    c.on('ready', () => {
      this.#state = 'ready'
      this.#up = true
      this.emit('ready')
    })
    c.on('error', (err: unknown) => {
      if (!c.isReady) this.#down()
      if (this.listenerCount('error') > 0) this.emit('error', err)
    })
    c.on('reconnecting', () => {
      this.#down()
      this.#state = 'reconnecting'
      this.emit('reconnecting')
    })
    const ended = (): void => {
      if (this.#state === 'end') return
      this.#down()
      this.#state = 'end'
      this.emit('end')
    }
    c.on('terminated', ended)
    c.on('end', ended)
  }

  /** Emits `close` once per connection that was up. */
  #down(): void {
    if (!this.#up) return
    this.#up = false
    if (this.#state === 'ready') this.#state = 'reconnecting'
    this.emit('close')
  }

  get status(): string {
    // node-redis answers the commands queued while connecting before it says `ready`
    return this.#state !== 'end' && this.#client.isReady ? 'ready' : this.#state
  }

  connect(): Promise<unknown> {
    if (this.#client.isOpen) return this.#connecting ?? Promise.resolve()
    this.#state = 'connecting'
    this.#connecting = this.#client.connect().finally(() => {
      this.#connecting = undefined
    })
    return this.#connecting
  }

  async call(command: string, ...args: RedisArgument[]): Promise<unknown> {
    this.#ensure()
    const reply = await this.#client
      .sendCommand([command, ...args.map(toArg)], { typeMapping: RESP2_SHAPES })
      .catch((e: unknown) => {
        throw asReplyError(e, command)
      })
    const name = command.toUpperCase()
    return name === 'XREADGROUP' || name === 'XREAD' ? streamPairs(reply) : reply
  }

  get(key: string): Promise<string | null> {
    return this.call('GET', key) as Promise<string | null>
  }
  mget(...keys: string[]): Promise<Array<string | null>> {
    return this.call('MGET', ...keys) as Promise<Array<string | null>>
  }
  set(key: string, value: RedisArgument, ...args: RedisArgument[]): Promise<unknown> {
    return this.call('SET', key, value, ...args)
  }
  eval(script: string, numKeys: number, ...args: RedisArgument[]): Promise<unknown> {
    return this.call('EVAL', script, numKeys, ...args)
  }
  evalsha(sha: string, numKeys: number, ...args: RedisArgument[]): Promise<unknown> {
    return this.call('EVALSHA', sha, numKeys, ...args)
  }
  publish(channel: string, message: string): Promise<unknown> {
    return this.call('PUBLISH', channel, message)
  }
  xgroup(...args: RedisArgument[]): Promise<unknown> {
    return this.call('XGROUP', ...args)
  }
  xreadgroup(...args: RedisArgument[]): Promise<unknown> {
    return this.call('XREADGROUP', ...args)
  }
  xautoclaim(...args: RedisArgument[]): Promise<unknown> {
    return this.call('XAUTOCLAIM', ...args)
  }
  xinfo(...args: RedisArgument[]): Promise<unknown> {
    return this.call('XINFO', ...args)
  }

  /** Resolves with the number of channels subscribed, as ioredis does; the same listener makes it idempotent. */
  async subscribe(...channels: string[]): Promise<unknown> {
    this.#ensure()
    for (const ch of channels) {
      await this.#client.subscribe(ch, this.#onMessage, true).catch((e: unknown) => {
        throw asReplyError(e, 'subscribe')
      })
      this.#channels.add(ch)
    }
    return this.#channels.size
  }

  async unsubscribe(...channels: string[]): Promise<unknown> {
    for (const ch of channels.length === 0 ? [...this.#channels] : channels) {
      await this.#client.unsubscribe(ch, this.#onMessage, true)
      this.#channels.delete(ch)
    }
    return this.#channels.size
  }

  duplicate(options: RedisDuplicateOptions = {}): RedisLike {
    const dup = this.#client.duplicate(duplicateOverrides(this.#client, options))
    return new NodeRedisAdapter(dup, options.lazyConnect === true)
  }

  disconnect(): void {
    if (this.#client.isOpen) this.#client.destroy()
  }

  async quit(): Promise<unknown> {
    if (this.#client.isOpen) await this.#client.close()
    return 'OK'
  }
}

/** The adapter of each node-redis client passed (one per client, so its listeners are attached once). */
const adapters = new WeakMap<object, RedisLike>()

/**
 * `client` as a {@link RedisLike}: an ioredis or iovalkey client as it is; a node-redis client wrapped (the same
 * wrapper every time for the same client; connected now if it is not open). A node-redis cluster or Sentinel
 * client is `E_UNSUPPORTED_CLIENT` (pass an ioredis `Cluster`, or a `Redis` with sentinels); anything else is
 * `E_INVALID_ARGUMENT`.
 * @param where - the function asking, for the error message
 * @param what - the option's name, for the error message
 */
export function toRedisLike(client: unknown, where = 'toRedisLike', what = 'redis'): RedisLike {
  const kind = detectRedisClient(client)
  if (kind === 'ioredis' || kind === 'ioredis-cluster') return client as RedisLike
  if (kind === 'node-redis-cluster') {
    throw new UnsupportedClientError(kind, 'pass an ioredis or iovalkey Cluster for a Redis Cluster')
  }
  if (kind === 'node-redis-sentinel') {
    throw new UnsupportedClientError(
      kind,
      'pass an ioredis or iovalkey Redis with sentinels (new Redis({ sentinels, name })) for Redis Sentinel',
    )
  }
  if (kind === 'node-redis') {
    const known = adapters.get(client as object)
    if (known !== undefined) return known
    const adapter = new NodeRedisAdapter(client as NodeRedisClient, false)
    adapters.set(client as object, adapter)
    return adapter
  }
  throw invalidArgument(where, what, 'an ioredis, iovalkey or node-redis client', client)
}
