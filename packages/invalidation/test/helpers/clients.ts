/**
 * The Redis client library this run uses (`TIERKIT_TEST_CLIENT`: ioredis by default, iovalkey, node-redis,
 * node-redis5; see @tierkit/testkit/clients): `redisClient(...)` takes ioredis's constructor arguments. The whole
 * suite builds its single-server clients with it, so it runs unchanged with each library
 * (tools/scripts/client-matrix.mjs); the Cluster files run with the libraries that have Cluster support.
 */
import { toRedisLike } from '@tierkit/contracts/redis'
import { redisClientFactory } from '@tierkit/testkit/clients'

export const redisClient: ReturnType<typeof redisClientFactory> = redisClientFactory(toRedisLike)
