// The integration suite of one package again with each other Redis client library (issue 20):
//   node ../../tools/scripts/client-matrix.mjs node-redis node-redis5 iovalkey secure
// `secure` is ioredis over TLS as the ACL user the package's README states (TIERKIT_TEST_SECURE=1); a
// `<client>+secure` is that client so.
// Run in the package's folder, after its own `vitest run` (ioredis, with coverage). Each client is one
// `vitest run` with TIERKIT_TEST_CLIENT=<client> (the package's test helpers build their clients from it),
// coverage off, its JSON report in .test-results/vitest-<client>.json (counted by summary.mjs). One after the
// other: turbo already runs two packages at a time on the 2 cores. Exit code 1 when any run failed.
import { spawnSync } from 'node:child_process'

const clients = process.argv.slice(2)
if (clients.length === 0) {
  console.error('usage: client-matrix.mjs <client>...')
  process.exit(2)
}
/** The environment of one run: `secure`, `<client>+secure` or `<client>`. */
function envOf(run) {
  const [client, flag] = run === 'secure' ? ['ioredis', 'secure'] : run.split('+')
  return { TIERKIT_TEST_CLIENT: client, TIERKIT_TEST_SECURE: flag === 'secure' ? '1' : '' }
}

let failed = 0
for (const client of clients) {
  console.log(`::: ${process.cwd().split('/').pop()} with ${client}`)
  const r = spawnSync(
    'npx',
    [
      'vitest',
      'run',
      '--coverage.enabled=false',
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=.test-results/vitest-${client}.json`,
    ],
    { stdio: 'inherit', env: { ...process.env, ...envOf(client) } },
  )
  if (r.status !== 0) failed++
}
process.exit(failed > 0 ? 1 : 0)
