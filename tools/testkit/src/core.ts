/**
 * `@tierkit/testkit/core`: real servers on loopback (redis-server, Redis Cluster, Sentinel, nginx, a delaying TCP
 * proxy) and the process registry that stops them, with no vitest import: benchmarks, child processes and the
 * demo use it as well as tests.
 *
 * Everything started here is stopped synchronously when the process exits or gets SIGINT/SIGTERM/SIGHUP, and a
 * watchdog kills leftovers when the process dies without running its hooks (even SIGKILLed). In a vitest test
 * file, import the main entry `@tierkit/testkit` (this core plus `./vitest.ts`'s hook) to stop them at the end of
 * each file as well.
 */
export { setTimeout as sleep } from 'node:timers/promises'
export { DRAGONFLY_INFO, type DragonflyStub, startDragonflyStub } from './dragonfly-stub.js'
export {
  type NginxCacheConfig,
  type NginxServer,
  nginxBin,
  nginxConfig,
  type StartNginxOptions,
  startNginx,
} from './nginx.js'
export { type StartNginxWithHttpOptions, startNginxWithHttp } from './nginx-http.js'
export { freePort } from './ports.js'
export {
  type Closable,
  exited,
  isRunning,
  reapAll,
  reapAllSync,
  type TrackOptions,
  terminate,
  trackChild,
  trackClosable,
  trackDir,
  trackedCount,
} from './processes.js'
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
  type AclUser,
  makeTlsFiles,
  type SecureRedisServer,
  type StartSecureRedisOptions,
  startSecureRedis,
  type TlsFiles,
} from './secure-redis.js'
export {
  redisSentinelBin,
  type SentinelRedisNode,
  type SentinelSet,
  type StartSentinelOptions,
  startSentinel,
} from './sentinel.js'
