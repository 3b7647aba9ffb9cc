// The publish-and-consume check: publish every public package into a real local npm registry
// (verdaccio on loopback, storage in a temporary folder, no uplink), then, in a scratch project outside the
// workspace, install them with plain npm as a user would and
//   (a) import each as ESM, (b) require() each from CommonJS and get the same exports,
//   (c) type-check each package's test/consumer/usage.mts, and a .cts that requires it, under nodenext,
//   (d) find no leaked `workspace:` range in any installed manifest.
// `--only NAME[,NAME]` narrows it to some packages.
// Writes .test-results/consumers.json for the closing summary. Exit code 1 on any failure.
import { spawn, spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve(import.meta.dirname, '../..')
const checks = []
const record = (name, ok, detail = '') => {
  checks.push({ name, ok, detail })
  console.log(`${ok ? '  ok  ' : '  FAIL'} ${name}${detail ? ` — ${detail}` : ''}`)
}

const freePort = () =>
  new Promise((res, rej) => {
    const s = createServer()
    s.unref()
    s.on('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })

const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: 'pipe', ...opts })
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, status: r.status }
}

const publicPackages = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => !pkg.private)
  // `--only @tierkit/a,@tierkit/b` narrows the check while working on one package.
  .filter(({ pkg }) => {
    const i = process.argv.indexOf('--only')
    return i < 0 || process.argv[i + 1].split(',').includes(pkg.name)
  })

const work = mkdtempSync(join(tmpdir(), 'tierkit-consumers-'))
let registry
const cleanup = () => {
  if (registry && registry.exitCode === null) registry.kill('SIGKILL')
  rmSync(work, { recursive: true, force: true })
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

async function main() {
  if (publicPackages.length === 0) throw new Error('no public packages found under packages/')
  for (const { dir, pkg } of publicPackages) {
    if (!existsSync(join(dir, 'dist')))
      throw new Error(`${pkg.name} is not built (no dist/): run pnpm build first`)
  }

  // 1. A real registry on a free loopback port, with its storage in the temporary folder.
  const port = await freePort()
  const url = `http://127.0.0.1:${port}/`
  mkdirSync(join(work, 'storage'))
  writeFileSync(
    join(work, 'verdaccio.yaml'),
    [
      `storage: ${join(work, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(work, 'htpasswd')}`,
      '    max_users: -1',
      'uplinks: {}',
      'packages:',
      "  '@tierkit/*':",
      '    access: $all',
      '    publish: $all',
      "  '**':",
      '    access: $all',
      'log: { type: stdout, format: pretty, level: error }',
      '',
    ].join('\n'),
  )
  registry = spawn(
    join(root, 'node_modules/.bin/verdaccio'),
    ['--config', join(work, 'verdaccio.yaml'), '--listen', `127.0.0.1:${port}`],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let registryLog = ''
  registry.stdout.on('data', (d) => (registryLog += d))
  registry.stderr.on('data', (d) => (registryLog += d))
  const deadline = Date.now() + 60_000
  for (;;) {
    try {
      const r = await fetch(`${url}-/ping`)
      if (r.ok) break
    } catch {}
    if (registry.exitCode !== null || Date.now() > deadline)
      throw new Error(`verdaccio did not start:\n${registryLog}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  record('local registry up', true, url)

  // 2. Publish with pnpm (it rewrites workspace: ranges; npm would not), as an anonymous user allowed by $all.
  const npmrc = join(work, 'publish.npmrc')
  writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=fake\n`)
  const env = {
    ...process.env,
    npm_config_userconfig: npmrc,
    npm_config_registry: url,
    NPM_CONFIG_USERCONFIG: npmrc,
  }
  for (const { dir, pkg } of publicPackages) {
    const r = run('pnpm', ['publish', '--no-git-checks', '--registry', url, '--access', 'public'], {
      cwd: dir,
      env,
    })
    record(`publish ${pkg.name}@${pkg.version}`, r.ok, r.ok ? '' : r.out.slice(-2000))
  }

  // 3. A scratch project outside the workspace installs them with plain npm.
  const app = join(work, 'consumer')
  mkdirSync(join(app, 'src'), { recursive: true })
  const deps = Object.fromEntries(publicPackages.map(({ pkg }) => [pkg.name, pkg.version]))
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, dependencies: deps }, null, 2),
  )
  writeFileSync(join(app, '.npmrc'), `@tierkit:registry=${url}\n`)
  const install = run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: app,
    env: { ...process.env, npm_config_userconfig: join(app, '.npmrc') },
  })
  record('npm install from the local registry', install.ok, install.ok ? '' : install.out.slice(-3000))
  if (!install.ok) return

  const names = publicPackages.map(({ pkg }) => pkg.name)
  // (d) no workspace: protocol leaked into a published manifest
  for (const name of names) {
    const manifest = readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8')
    record(`${name}: no workspace: range in the published manifest`, !manifest.includes('workspace:'))
  }

  // (a) ESM import and (b) CommonJS require of each main entry: same non-empty set of exports.
  writeFileSync(
    join(app, 'esm.mjs'),
    `const out = {}\nfor (const n of ${JSON.stringify(names)}) out[n] = Object.keys(await import(n)).sort()\nconsole.log(JSON.stringify(out))\n`,
  )
  writeFileSync(
    join(app, 'cjs.cjs'),
    `const out = {}\nfor (const n of ${JSON.stringify(names)}) out[n] = Object.keys(require(n)).filter((k) => k !== '__esModule' && k !== 'module.exports').sort()\nconsole.log(JSON.stringify(out))\n`,
  )
  const esm = run(process.execPath, ['esm.mjs'], { cwd: app })
  const cjs = run(process.execPath, ['cjs.cjs'], { cwd: app })
  const esmKeys = esm.ok ? JSON.parse(esm.out.trim().split('\n').at(-1)) : {}
  const cjsKeys = cjs.ok ? JSON.parse(cjs.out.trim().split('\n').at(-1)) : {}
  for (const name of names) {
    const e = esmKeys[name]
    record(
      `${name}: import() as ESM`,
      esm.ok && Array.isArray(e) && e.length > 0,
      esm.ok ? `${e?.length ?? 0} exports` : esm.out.slice(-1500),
    )
    const c = cjsKeys[name]
    const same = Array.isArray(c) && JSON.stringify(c) === JSON.stringify(e)
    record(
      `${name}: require() from CommonJS`,
      cjs.ok && same,
      cjs.ok ? (same ? '' : `exports differ: ${c} vs ${e}`) : cjs.out.slice(-1500),
    )
  }

  // (c) type-check each package's consumer file (.mts) and a .cts that require()s it, under nodenext.
  for (const { dir, pkg } of publicPackages) {
    const slug = pkg.name.replace('@tierkit/', '')
    const usage = join(dir, 'test', 'consumer', 'usage.mts')
    if (!existsSync(usage)) {
      record(`${pkg.name}: test/consumer/usage.mts exists`, false)
      continue
    }
    cpSync(usage, join(app, 'src', `${slug}.mts`))
    writeFileSync(
      join(app, 'src', `${slug}-require.cts`),
      `import pkg = require('${pkg.name}')\nconst names: string[] = Object.keys(pkg)\nexport = names\n`,
    )
  }
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2023'],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(root, 'node_modules/@types')],
        },
        include: ['src'],
      },
      null,
      2,
    ),
  )
  const tsc = run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
    cwd: app,
  })
  record(
    'type-check consumer files (.mts and .cts, nodenext, skipLibCheck off)',
    tsc.ok,
    tsc.ok ? `${publicPackages.length} packages` : tsc.out.slice(-4000),
  )
}

try {
  await main()
} catch (err) {
  record('publish-and-consume check ran', false, String(err?.stack ?? err))
}
const failed = checks.filter((c) => !c.ok).length
mkdirSync(join(root, '.test-results'), { recursive: true })
writeFileSync(
  join(root, '.test-results', 'consumers.json'),
  JSON.stringify({ passed: checks.length - failed, failed, checks }, null, 2),
)
console.log(`publish-and-consume: ${checks.length - failed} ok, ${failed} failed`)
// The registry child keeps the event loop alive: stop it and leave.
cleanup()
process.exit(failed > 0 ? 1 : 0)
