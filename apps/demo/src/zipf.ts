// The demo's load generator and seed use the workspace's one seeded PRNG and Zipf sampler.
export { seeded, zipf } from '@tierkit/testkit/random'
