import { createHash } from 'node:crypto'
import { seeded } from '../zipf.js'
import type { Product, User } from './types.js'

/** Product categories of the seed. */
export const CATEGORIES: readonly string[] = [
  'books',
  'music',
  'games',
  'garden',
  'kitchen',
  'tools',
  'toys',
  'sports',
  'beauty',
  'health',
  'office',
  'pets',
  'baby',
  'auto',
  'outdoors',
  'electronics',
]

const ADJECTIVES = ['Swift', 'Quiet', 'Bright', 'Sturdy', 'Tiny', 'Grand', 'Lucky', 'Clever', 'Bold', 'Calm']
const NOUNS = ['Widget', 'Gadget', 'Lamp', 'Kettle', 'Drill', 'Puzzle', 'Racket', 'Brush', 'Chair', 'Speaker']
const FIRST = ['Ada', 'Alan', 'Grace', 'Linus', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Frances', 'Edsger']
const LAST = [
  'Lovelace',
  'Turing',
  'Hopper',
  'Torvalds',
  'Liskov',
  'Thompson',
  'Hamilton',
  'Ritchie',
  'Allen',
  'Dijkstra',
]

/** Fixed time of the seed rows, so SQLite and PostgreSQL hold identical data. */
export const SEED_TIME = '2026-01-01T00:00:00.000Z'

/**
 * The bearer token of user `id`: deterministic, so the load generator and the tests can compute it.
 * @example userToken(1) // 'u1.…'
 */
export function userToken(id: number): string {
  return `u${id}.${createHash('sha256').update(`tierkit-demo-user-${id}`).digest('base64url').slice(0, 24)}`
}

/** Yields the seed products 1..n (deterministic). */
export function* seedProducts(n: number): Generator<Product> {
  const rand = seeded(42) // same seed, same rows, on both databases
  for (let id = 1; id <= n; id++) {
    const category = CATEGORIES[Math.floor(rand() * CATEGORIES.length)]!
    // log-normal-ish prices from 1.00 to about 2,000.00
    const priceCents = Math.max(100, Math.round(Math.exp(4.5 + rand() * 3 + rand() * 2) * 10))
    yield {
      id,
      name: `${ADJECTIVES[Math.floor(rand() * ADJECTIVES.length)]} ${NOUNS[Math.floor(rand() * NOUNS.length)]} ${id}`,
      category,
      brandId: 1 + Math.floor(rand() * 500),
      priceCents,
      stock: Math.floor(rand() * 1000),
      version: 1,
      updatedAt: SEED_TIME,
    }
  }
}

/** Yields the seed users 1..n (deterministic). */
export function* seedUsers(n: number): Generator<User> {
  for (let id = 1; id <= n; id++) {
    const first = FIRST[id % FIRST.length]!
    const last = LAST[Math.floor(id / FIRST.length) % LAST.length]!
    yield {
      id,
      name: `${first} ${last}`,
      email: `${first.toLowerCase()}.${last.toLowerCase()}.${id}@example.test`,
      createdAt: SEED_TIME,
      apiToken: userToken(id),
    }
  }
}
