// An ACL denial on the tag versions is contracts' PermissionError naming the command, as the cause of the tags'
// TagsUnavailableError (issue 20): a write rejects with it, a read degrades and reports it through onEvent,
// never a silent miss. A real redis-server, one ACL user per case, built by the run's client library.
import { PermissionError } from '@tierkit/contracts'
import { createCache } from '@tierkit/redis-aside'
import { type RedisServer, startRedis } from '@tierkit/testkit'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createTags, TagsUnavailableError } from '../src/index.js'
import { type AclUsers, aclUsers } from './helpers/acl.js'
import { MapL1 } from './helpers/cache.js'

let server: RedisServer
let users: AclUsers
const closers: Array<() => unknown> = []

beforeAll(async () => {
  server = await startRedis()
  users = aclUsers(server)
}, 60_000)
afterAll(async () => {
  for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => {})
  await users.close()
  await server.stop()
})

const clientAs = (user: string, rules: string): Promise<Redis> => users.as(user, rules)

function instance(redis: Redis, namespace: string) {
  const events: Array<{ type: string; operation: string; error: unknown }> = []
  const cache = createCache({ redis, l1: new MapL1(), namespace, ttl: 60_000 })
  closers.push(() => cache.close())
  const tags = createTags<string>({ redis, cache, namespace, onEvent: (e) => events.push(e) })
  return { tags, events }
}

const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  )

it('MGET denied: a read of a tagged value degrades and reports the PermissionError naming mget', async () => {
  // the writer may do everything; the reader lacks MGET, which a read of tag versions it has not seen takes
  const writer = instance(await clientAs('tags-writer', '~* &* +@all'), 'tp1')
  await writer.tags.set('p:1', 'v1', { tags: ['product:1'] })
  const reader = instance(await clientAs('tags-no-mget', '~* &* +@all -mget'), 'tp1')
  expect(await reader.tags.get('p:1')).toBeUndefined()
  const e = reader.events.find((x) => x.type === 'error')?.error
  expect(e).toBeInstanceOf(TagsUnavailableError)
  expect((e as TagsUnavailableError).cause).toBeInstanceOf(PermissionError)
  expect((e as TagsUnavailableError).cause).toMatchObject({ code: 'E_REDIS_NOPERM', command: 'mget' })
  expect((e as Error).message).toContain("Redis ACL denied the command 'mget'")
  // getOrLoad answers from the loader and reports the same denial
  const loaded = await reader.tags.getOrLoad('p:1', () => 'from the loader', { tags: ['product:1'] })
  expect(loaded).toBe('from the loader')
  expect(reader.events.filter((x) => x.type === 'error').length).toBeGreaterThanOrEqual(2)
  for (const x of reader.events) {
    expect(((x.error as Error).cause as PermissionError).command).toBe('mget')
  }
})

it('EVALSHA and EVAL denied: set and invalidateTags reject with TagsUnavailableError whose cause names the script', async () => {
  const { tags } = instance(await clientAs('tags-no-scripts', '~* &* +@all -evalsha -eval'), 'tp2')
  const set = await rejection(tags.set('p:1', 'v1', { tags: ['product:1'] }))
  expect(set).toBeInstanceOf(TagsUnavailableError)
  expect((set as TagsUnavailableError).operation).toBe('set')
  const cause = (set as TagsUnavailableError).cause as PermissionError
  expect(cause).toBeInstanceOf(PermissionError)
  expect(cause).toMatchObject({ code: 'E_REDIS_NOPERM', denied: 'command' })
  expect(['evalsha', 'eval']).toContain(cause.command)
  expect(cause.scriptCommands).toBeUndefined() // the script's own command was refused: Redis named it
  const inv = await rejection(tags.invalidateTags(['product:1']))
  expect(inv).toBeInstanceOf(TagsUnavailableError)
  expect((inv as TagsUnavailableError).cause).toBeInstanceOf(PermissionError)
})

it("the tag keys outside the user's key patterns: set rejects with the PermissionError of a denied key", async () => {
  // the cache's own keys (ra:*) allowed, the tag versions (tk:*, tks:*) not
  const { tags } = instance(await clientAs('tags-no-keys', '~ra:* &* +@all'), 'tp3')
  const e = await rejection(tags.set('p:1', 'v1', { tags: ['product:1'] }))
  expect(e).toBeInstanceOf(TagsUnavailableError)
  expect((e as TagsUnavailableError).cause).toBeInstanceOf(PermissionError)
  expect((e as TagsUnavailableError).cause).toMatchObject({ code: 'E_REDIS_NOPERM', denied: 'key' })
})
