import { testL1Store } from '@tierkit/contracts/testing'
import { L1Cache } from '../src/index.js'

// The family's L1Store contract (what redis-aside needs of its `l1`), with an injected clock so that its TTL
// case runs; both policies, and the weighted variant.
for (const policy of ['tinylfu', 'lru'] as const) {
  testL1Store(`L1Cache (${policy})`, () => {
    let now = 1000
    const l1 = new L1Cache<string, unknown>({ max: 1000, policy, clock: () => now })
    return {
      l1,
      advance: (ms) => {
        now += ms
      },
      close: () => l1.close(),
    }
  })
}

testL1Store('L1Cache (weighted, default ttl)', () => {
  let now = 0
  const l1 = new L1Cache<string, unknown>({
    maxSize: 10_000,
    sizeOf: () => 10,
    ttl: 600_000,
    clock: () => now,
  })
  return {
    l1,
    advance: (ms) => {
      now += ms
    },
    close: () => l1.close(),
  }
})
