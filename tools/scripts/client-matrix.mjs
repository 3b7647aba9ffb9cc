// The integration suite of one package again with each other Redis client library (issue 20):
//   node ../../tools/scripts/client-matrix.mjs node-redis node-redis5 iovalkey secure
// `secure` is ioredis over TLS as the ACL user the package's README states (TIERKIT_TEST_SECURE=1); a
// `<client>+secure` is that client so.
// Run in the package's folder, after its own `vitest run` (ioredis, with coverage). Each client is one
// `vitest run` with TIERKIT_TEST_CLIENT=<client> (the package's test helpers build their clients from it),
// coverage off, its JSON report in .test-results/vitest-<client>.json (counted by summary.mjs). One after the
// other: turbo already runs two packages at a time on the 2 cores. With `--parallel` first, all at once (each
// run starts its own servers on free ports; a suite that mostly waits on servers and timers gains most), each
// run's output printed when it ends, with its wall time. Exit code 1 when any run failed.
import { spawn, spawnSync } from 'node:child_process'

const parallel = process.argv[2] === '--parallel'
const clients = process.argv.slice(parallel ? 3 : 2)
if (clients.length === 0) {
  console.error('usage: client-matrix.mjs [--parallel] <client>...')
  process.exit(2)
}
/** The environment of one run: `secure`, `<client>+secure` or `<client>`. */
function envOf(run) {
  const [client, flag] = run === 'secure' ? ['ioredis', 'secure'] : run.split('+')
  return { TIERKIT_TEST_CLIENT: client, TIERKIT_TEST_SECURE: flag === 'secure' ? '1' : '' }
}

/** The vitest arguments of one run. */
const argsOf = (client) => [
  'vitest',
  'run',
  '--coverage.enabled=false',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=.test-results/vitest-${client}.json`,
]
const title = (client) => `::: ${process.cwd().split('/').pop()} with ${client}`

/** One run in the background, its output kept; resolves with its exit code once it has been printed. */
function runBuffered(client) {
  const t0 = Date.now()
  const out = []
  const child = spawn('npx', argsOf(client), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...envOf(client), FORCE_COLOR: process.env.FORCE_COLOR ?? '1' },
  })
  child.stdout.on('data', (d) => out.push(d))
  child.stderr.on('data', (d) => out.push(d))
  return new Promise((resolve) => {
    child.on('close', (code) => {
      console.log(title(client))
      process.stdout.write(Buffer.concat(out))
      console.log(`::: ${client}: exit ${code}, ${((Date.now() - t0) / 1000).toFixed(1)} s`)
      resolve(code)
    })
  })
}

let failed = 0
if (parallel) {
  const codes = await Promise.all(clients.map(runBuffered))
  failed = codes.filter((c) => c !== 0).length
} else {
  for (const client of clients) {
    console.log(title(client))
    const r = spawnSync('npx', argsOf(client), {
      stdio: 'inherit',
      env: { ...process.env, ...envOf(client) },
    })
    if (r.status !== 0) failed++
  }
}
process.exit(failed > 0 ? 1 : 0)
