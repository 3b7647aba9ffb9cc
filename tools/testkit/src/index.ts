/**
 * @tierkit/testkit: real servers on loopback for integration tests (never published).
 *
 * Everything started here is stopped at the end of each vitest test file (also when a test fails), and
 * synchronously when the process exits or gets SIGINT/SIGTERM/SIGHUP; a watchdog kills leftovers when the
 * test process dies without running its hooks.
 */
export { type DelayProxy, type DelayProxyOptions, delayProxy, type ProxyMode } from './proxy.js'
export { type RedisServer, redisServerBin, type StartRedisOptions, startRedis, waitForPing } from './redis.js'
export {
  type RedisCluster,
  type RedisClusterNode,
  type StartRedisClusterOptions,
  startRedisCluster,
} from './redis-cluster.js'
export {
  encodeCommand,
  parseResp,
  type RedisCommandOptions,
  RespError,
  type RespValue,
  redisCommand,
} from './redis-resp.js'
export {
  type Closable,
  exited,
  freePort,
  isRunning,
  reapAll,
  reapAllSync,
  sleep,
  terminate,
  trackChild,
  trackClosable,
  trackDir,
  trackedCount,
} from './redis-runtime.js'
export {
  redisSentinelBin,
  type SentinelRedisNode,
  type SentinelSet,
  type StartSentinelOptions,
  startSentinel,
} from './sentinel.js'
