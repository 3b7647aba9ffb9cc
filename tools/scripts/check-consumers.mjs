// The release rehearsal and publish-and-consume check, against a real local npm registry (verdaccio on
// loopback, storage in a temporary folder, no uplink):
//   1. release: in a scratch copy of the workspace, the README's `pnpm release` (turbo build, then
//      `changeset publish`) publishes exactly the packages whose version is not on the registry yet, each on
//      the `latest` dist-tag; a second `pnpm release` with nothing new publishes nothing;
//   2. consume: a scratch project outside the workspace installs every package with plain npm, as a user would,
//      with every third-party package at the version pnpm-lock.yaml pins (nothing floats), and checks
//      (a) import() as ESM and require() from CommonJS give the same exports, (b) the tarball (LICENSE,
//      src/, source and declaration maps, README links, metadata), (c) the type-check gate: each package's
//      test/consumer/usage.mts, a .cts that requires it and every subpath, under nodenext with skipLibCheck
//      off for our declarations, and that the gate turns red when one of our declarations is broken, and
//      (d) no leaked `workspace:` range;
//   3. a consumer installs `@tierkit/l1-cache@<version>` by its exact version;
//   4. a second release after a patch changeset to l1-cache bumps and publishes l1-cache alone (in the scratch
//      copy: this repository stays as it is);
//   5. the OpenTelemetry adapter against the newest @opentelemetry/api 1.x (see NEWEST_OTEL_API).
// `--only NAME[,NAME]` narrows the consumer checks to some packages. `--newest-peers` installs the newest
// third-party versions the ranges allow instead of the locked ones (trying them on purpose; see
// docs/releasing.md). Writes .test-results/consumers.json for the closing summary; exit code 1 on any failure.
import { spawnSync } from 'node:child_process'
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { readLockfile } from './lib/lockfile.mjs'
import { startRegistry } from './lib/registry.mjs'
import { loadTypeScript, typecheckConsumer } from './lib/typecheck.mjs'

/** The newest @opentelemetry/api 1.x on the registry (sdk-metrics 2.12, the last line for Node 20, wants < 1.10). */
const NEWEST_OTEL_API = '1.10.0'

const root = resolve(import.meta.dirname, '../..')
const argv = process.argv.slice(2)
const newestPeers = argv.includes('--newest-peers')
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1].split(',') : null

const checks = []
const record = (name, ok, detail = '') => {
  checks.push({ name, ok: Boolean(ok), detail })
  console.log(`${ok ? '  ok  ' : '  FAIL'} ${name}${detail ? ` — ${detail}` : ''}`)
  return Boolean(ok)
}

const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: 'pipe', maxBuffer: 64 << 20, ...opts })
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, status: r.status }
}
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'))

const workspacePackages = (base) =>
  readdirSync(join(base, 'packages'))
    .map((name) => join(base, 'packages', name))
    .filter((dir) => existsSync(join(dir, 'package.json')))
    .map((dir) => ({ dir, slug: dir.split('/').at(-1), pkg: readJson(join(dir, 'package.json')) }))
    .filter(({ pkg }) => !pkg.private)

const publicPackages = workspacePackages(root)
/** The version each package is released at: the scratch copy's, after its pending changesets (see main). */
const versionOf = new Map(publicPackages.map(({ pkg }) => [pkg.name, pkg.version]))
const consumed = publicPackages.filter(({ pkg }) => only === null || only.includes(pkg.name))
const gitStatus = () => run('git', ['status', '--porcelain'], { cwd: root }).out

const work = mkdtempSync(join(tmpdir(), 'tierkit-consumers-'))
let registry
const cleanup = () => {
  registry?.stop()
  rmSync(work, { recursive: true, force: true })
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130))

// ---------------------------------------------------------------------------------------------------------------
// the scratch copy of the workspace the releases run in

/** Copies the workspace's files (tracked and untracked, not ignored) and links its installed node_modules. */
/**
 * The scratch copy's `node_modules`: every third-party entry a link to the workspace's own, but a workspace
 * package (`link:` in the lockfile, e.g. `@tierkit/contracts`) a link to the scratch copy's package. Linking
 * the whole folder would let `pnpm publish` read a sibling's version from the workspace, not from the copy
 * that `pnpm version-packages` bumped (it published `"@tierkit/contracts": "^0.0.0"` once).
 */
function linkNodeModules(from, to, scratch) {
  mkdirSync(to, { recursive: true })
  for (const name of readdirSync(from)) {
    const entry = join(from, name)
    if (name.startsWith('@')) {
      linkNodeModules(entry, join(to, name), scratch)
      continue
    }
    let target = entry
    try {
      target = realpathSync(entry)
    } catch {} // a dangling link stays one
    const inWorkspace = target.startsWith(root + sep) && !target.includes(`${sep}node_modules${sep}`)
    symlinkSync(inWorkspace ? join(scratch, relative(root, target)) : entry, join(to, name))
  }
}

function scratchWorkspace() {
  const dir = join(work, 'workspace')
  const files = run('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root })
  if (!files.ok) throw new Error(`git ls-files failed: ${files.out}`)
  for (const f of files.out.split('\0').filter(Boolean)) {
    if (!existsSync(join(root, f))) continue // deleted in the working tree
    mkdirSync(dirname(join(dir, f)), { recursive: true })
    cpSync(join(root, f), join(dir, f))
  }
  // installed dependencies are the workspace's own (same lockfile); the builds and the manifests are the copy's
  linkNodeModules(join(root, 'node_modules'), join(dir, 'node_modules'), dir)
  for (const group of ['packages', 'apps', 'tools']) {
    for (const name of readdirSync(join(root, group))) {
      const nm = join(root, group, name, 'node_modules')
      if (existsSync(nm) && existsSync(join(dir, group, name)))
        linkNodeModules(nm, join(dir, group, name, 'node_modules'), dir)
    }
  }
  const git = (...args) => run('git', args, { cwd: dir, env: gitEnv })
  git('init', '-q')
  git('add', '-A')
  const c = git('commit', '-qm', 'release rehearsal')
  if (!c.ok) throw new Error(`git commit in the scratch copy failed: ${c.out}`)
  return dir
}
const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 'tierkit release rehearsal',
  GIT_AUTHOR_EMAIL: 'rehearsal@localhost',
  GIT_COMMITTER_NAME: 'tierkit release rehearsal',
  GIT_COMMITTER_EMAIL: 'rehearsal@localhost',
}

/** Every version of every public package on the registry, as `name@version` strings. */
async function registryVersions(names) {
  const out = new Set()
  for (const name of names) {
    const doc = await registry.packument(name)
    for (const v of Object.keys(doc?.versions ?? {})) out.add(`${name}@${v}`)
  }
  return out
}

/** `pnpm release` in `dir` against the local registry; returns what it added to the registry. */
async function release(dir, label) {
  const names = workspacePackages(dir).map(({ pkg }) => pkg.name)
  const before = await registryVersions(names)
  const r = run('pnpm', ['release'], {
    cwd: dir,
    env: {
      ...gitEnv,
      npm_config_registry: registry.url,
      npm_config_userconfig: registry.npmrc,
      TURBO_TELEMETRY_DISABLED: '1',
      DO_NOT_TRACK: '1',
    },
  })
  record(`${label}: pnpm release ran`, r.ok, r.ok ? '' : r.out.slice(-3000))
  const after = await registryVersions(names)
  return [...after].filter((v) => !before.has(v)).sort()
}

async function checkLatest(dir, label) {
  for (const { pkg } of workspacePackages(dir)) {
    const doc = await registry.packument(pkg.name)
    record(
      `${label}: ${pkg.name} latest dist-tag is ${pkg.version}`,
      doc?.['dist-tags']?.latest === pkg.version,
      `dist-tags ${JSON.stringify(doc?.['dist-tags'] ?? null)}`,
    )
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the consumer project

/** Peer versions to install: the version the workspace locked for each peer (its devDependency). */
function lockedPeers(lock) {
  const peers = {}
  const problems = []
  for (const { slug, pkg } of publicPackages) {
    for (const peer of Object.keys(pkg.peerDependencies ?? {})) {
      const locked = lock.importers.get(`packages/${slug}`)?.get(peer)
      if (locked === undefined) problems.push(`${pkg.name}: peer ${peer} is not a locked devDependency`)
      else if (peers[peer] !== undefined && peers[peer] !== locked)
        problems.push(`peer ${peer} locked at ${peers[peer]} and ${locked} in different packages`)
      else peers[peer] = locked
    }
  }
  return { peers, problems }
}

/**
 * Writes a consumer project in `dir` depending on `deps`, with every other locked package pinned by npm
 * `overrides` (one locked version each), and installs it. Returns npm's result.
 */
function installConsumer(dir, deps, lock, { legacyPeerDeps = false } = {}) {
  mkdirSync(join(dir, 'src'), { recursive: true })
  const overrides = {}
  if (!newestPeers) {
    for (const [name, versions] of lock.versions) {
      if (versions.size === 1 && !(name in deps) && !name.startsWith('@tierkit/'))
        overrides[name] = [...versions][0]
    }
  }
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify(
      { name: 'consumer', private: true, type: 'commonjs', dependencies: deps, overrides },
      null,
      2,
    ),
  )
  writeFileSync(join(dir, '.npmrc'), `@tierkit:registry=${registry.url}\n`)
  return run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...(legacyPeerDeps ? ['--legacy-peer-deps'] : []),
    ],
    { cwd: dir, env: { ...process.env, npm_config_userconfig: join(dir, '.npmrc') } },
  )
}

/** Every third-party package npm installed (from its package-lock.json) whose version pnpm-lock.yaml lacks. */
function floating(dir, lock) {
  const out = []
  const installed = readJson(join(dir, 'package-lock.json')).packages
  let count = 0
  for (const [path, meta] of Object.entries(installed)) {
    if (path === '' || !path.includes('node_modules/')) continue
    const name = meta.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)
    if (name.startsWith('@tierkit/')) continue
    count++
    if (!lock.versions.get(name)?.has(meta.version)) out.push(`${name}@${meta.version}`)
  }
  return { count, out }
}

/** What a user gets in the tarball: the licence, the sources the maps point at, honest metadata. */
function checkTarball(name, dir) {
  const pkg = readJson(join(dir, 'package.json'))
  const license = existsSync(join(dir, 'LICENSE')) ? readFileSync(join(dir, 'LICENSE'), 'utf8') : ''
  record(`${name}: LICENSE (MIT) in the tarball`, pkg.license === 'MIT' && license.startsWith('MIT License'))
  const metaProblems = []
  if (!Array.isArray(pkg.keywords) || pkg.keywords.length === 0) metaProblems.push('no keywords')
  if (pkg.sideEffects !== false) metaProblems.push('sideEffects is not false')
  if (typeof pkg.engines?.node !== 'string') metaProblems.push('no engines.node')
  if (JSON.stringify(pkg).includes('.invalid')) metaProblems.push('a placeholder (.invalid) URL')
  record(
    `${name}: manifest has keywords, sideEffects: false, engines, no placeholder URL`,
    metaProblems.length === 0,
    metaProblems.join('; '),
  )
  const readme = existsSync(join(dir, 'README.md')) ? readFileSync(join(dir, 'README.md'), 'utf8') : ''
  const relative = [...readme.matchAll(/\]\((?!https?:|#|mailto:)([^)]+)\)/g)].map((m) => m[1])
  record(
    `${name}: README links work on the registry's page (no relative links)`,
    readme && relative.length === 0,
    relative.join(', '),
  )

  const mapProblems = []
  let maps = 0
  const dist = join(dir, 'dist')
  for (const f of readdirSync(dist)) {
    if (!/\.(js|d\.ts)$/.test(f) || f === 'worker-entry.js') continue
    const map = join(dist, `${f}.map`)
    if (!existsSync(map)) {
      // a chunk that only re-exports other chunks has no code of its own to map
      const code = readFileSync(join(dist, f), 'utf8')
        .split('\n')
        .filter((l) => l.trim() && !/^(import|export) /.test(l))
      if (code.length > 0) mapProblems.push(`${f} has no .map`)
      continue
    }
    maps++
    for (const source of readJson(map).sources) {
      if (!existsSync(resolve(dist, source))) mapProblems.push(`${f}.map points at missing ${source}`)
      else if (!source.startsWith('../src/')) mapProblems.push(`${f}.map source ${source} is not under src/`)
    }
  }
  record(
    `${name}: every dist .js and .d.ts has a map landing in the shipped src/*.ts`,
    maps > 0 && mapProblems.length === 0,
    mapProblems.length ? mapProblems.slice(0, 5).join('; ') : `${maps} maps`,
  )
}

async function consume(lock) {
  const app = join(work, 'consumer')
  const names = consumed.map(({ pkg }) => pkg.name)
  const { peers, problems } = lockedPeers(lock)
  record(
    'every peer dependency has one locked version in pnpm-lock.yaml',
    problems.length === 0,
    problems.join('; '),
  )
  const deps = Object.fromEntries(consumed.map(({ pkg }) => [pkg.name, versionOf.get(pkg.name)]))
  if (!newestPeers) Object.assign(deps, peers)
  else for (const { pkg } of publicPackages) Object.assign(deps, pkg.peerDependencies) // the newest each range allows
  const nodeTypes = lock.importers.get('.')?.get('@types/node')
  deps['@types/node'] = newestPeers ? '^20' : nodeTypes
  const install = installConsumer(app, deps, lock)
  record('npm install from the local registry', install.ok, install.ok ? '' : install.out.slice(-3000))
  if (!install.ok) return

  // nothing floats: the peers at the locked versions, and every other installed package a locked version
  if (!newestPeers) {
    for (const [peer, version] of Object.entries(peers)) {
      const got = readJson(join(app, 'node_modules', peer, 'package.json')).version
      record(`consumer's ${peer} is the locked ${version}`, got === version, `installed ${got}`)
    }
    const f = floating(app, lock)
    record(
      'every third-party package the consumer installed is at a version pnpm-lock.yaml pins',
      f.count > 0 && f.out.length === 0,
      f.out.length ? `not in the lockfile: ${f.out.slice(0, 10).join(', ')}` : `${f.count} packages`,
    )
  } else {
    const got = Object.keys(peers).map(
      (p) => `${p}@${readJson(join(app, 'node_modules', p, 'package.json')).version}`,
    )
    console.log(`  newest peers installed: ${got.join(', ')}`)
  }

  // (d) no workspace: protocol leaked into a published manifest; (b) the tarball
  for (const name of names) {
    const manifest = readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8')
    record(`${name}: no workspace: range in the published manifest`, !manifest.includes('workspace:'))
    checkTarball(name, join(app, 'node_modules', name))
  }

  // (a) ESM import and CommonJS require of each main entry: same non-empty set of exports.
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

  // (c) the type-check gate
  for (const { dir, slug, pkg } of consumed) {
    const usage = join(dir, 'test', 'consumer', 'usage.mts')
    if (!record(`${pkg.name}: test/consumer/usage.mts exists`, existsSync(usage))) continue
    cpSync(usage, join(app, 'src', `${slug}.mts`))
    writeFileSync(
      join(app, 'src', `${slug}-require.cts`),
      `import pkg = require('${pkg.name}')\nconst names: string[] = Object.keys(pkg)\nexport = names\n`,
    )
    const subpaths = Object.keys(pkg.exports).filter((k) => k !== '.' && k !== './package.json')
    if (subpaths.length > 0)
      writeFileSync(
        join(app, 'src', `${slug}-subpaths.mts`),
        `${subpaths.map((s, i) => `import type * as s${i} from '${pkg.name}${s.slice(1)}'`).join('\n')}\nexport type Subpaths = [${subpaths.map((_, i) => `typeof s${i}`).join(', ')}]\n`,
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
        },
        include: ['src'],
      },
      null,
      2,
    ),
  )
  const ts = loadTypeScript(root)
  const tsconfig = join(app, 'tsconfig.json')
  const gate = typecheckConsumer(ts, tsconfig)
  record(
    'type-check gate: consumer files, their .cts and every subpath, nodenext, skipLibCheck off for @tierkit/*',
    gate.ours.length === 0 && gate.checkedFiles > names.length,
    gate.ours.length
      ? gate.ours
          .map((d) => d.text)
          .join('')
          .slice(-4000)
      : `${gate.checkedFiles} files of ours checked; ${gate.thirdParty.length} third-party diagnostic(s) reported, not failing${gate.thirdParty.length ? `: ${[...new Set(gate.thirdParty.map((d) => `TS${d.code} in ${d.file.slice(d.file.lastIndexOf('node_modules/') + 13)}`))].join(', ')}` : ''}`,
  )

  // The gate must be able to fail: break one of our declarations (a type that does not exist, which only a
  // check with skipLibCheck off sees) and expect red, naming that file; then restore it.
  const victimName = names.includes('@tierkit/l1-cache') ? '@tierkit/l1-cache' : names[0]
  const victim = join(app, 'node_modules', victimName, 'dist', 'index.d.ts')
  const original = readFileSync(victim, 'utf8')
  appendFileSync(victim, '\nexport declare const brokenOnPurpose: ThisTypeDoesNotExist\n')
  const red = typecheckConsumer(ts, tsconfig)
  writeFileSync(victim, original)
  record(
    `type-check gate turns red on a broken ${victimName} declaration`,
    red.ours.some((d) => d.code === 2304 && d.file === victim),
    red.ours
      .map((d) => d.text.trim())
      .join(' | ')
      .slice(0, 300),
  )
  // ... and when a declaration stops matching what usage.mts relies on (a method renamed)
  const renamed = original.replace(/^(\s+)get\(key\b/m, '$1getRenamedOnPurpose(key') // the declaration, not a doc comment's example
  writeFileSync(victim, renamed)
  const red2 = typecheckConsumer(ts, tsconfig)
  writeFileSync(victim, original)
  record(
    `type-check gate turns red when a ${victimName} method its usage file calls is renamed`,
    renamed !== original && red2.ours.some((d) => !d.file.includes('/node_modules/')),
    red2.ours
      .map((d) => d.text.trim())
      .join(' | ')
      .slice(0, 300),
  )
  // ... while the same defect in someone else's declarations is reported and does not fail it
  const theirs = join(app, 'node_modules', 'ioredis', 'built', 'index.d.ts')
  if (existsSync(theirs)) {
    const before = readFileSync(theirs, 'utf8')
    appendFileSync(theirs, '\nexport declare const brokenOnPurpose: ThisTypeDoesNotExist\n')
    const green = typecheckConsumer(ts, tsconfig)
    writeFileSync(theirs, before)
    record(
      'type-check gate reports a broken third-party (ioredis) declaration without failing',
      green.ours.length === 0 && green.thirdParty.some((d) => d.code === 2304 && d.file === theirs),
      green.ours
        .map((d) => d.text.trim())
        .join(' | ')
        .slice(0, 300),
    )
  }
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  if (publicPackages.length === 0) throw new Error('no public packages found under packages/')
  for (const { dir, pkg } of publicPackages) {
    if (!existsSync(join(dir, 'dist')))
      throw new Error(`${pkg.name} is not built (no dist/): run pnpm build first`)
  }
  const lock = readLockfile(root)
  const statusBefore = gitStatus()
  registry = await startRegistry(root, join(work, 'registry'))
  record('local registry up', true, registry.url)

  // 1. the first release, then one with nothing new
  const scratch = scratchWorkspace()
  // changesets still pending are versioned first, as a release does (`pnpm version-packages`, then `pnpm release`)
  const pending = readdirSync(join(scratch, '.changeset')).filter(
    (f) => f.endsWith('.md') && f !== 'README.md',
  )
  if (pending.length > 0) {
    const v = run('pnpm', ['version-packages'], { cwd: scratch, env: gitEnv })
    record(
      `first release: pnpm version-packages consumed ${pending.length} pending changesets`,
      v.ok,
      v.ok ? '' : v.out.slice(-2000),
    )
    run('git', ['commit', '-qam', 'version packages'], { cwd: scratch, env: gitEnv })
  }
  for (const { pkg } of workspacePackages(scratch)) versionOf.set(pkg.name, pkg.version)
  const all = publicPackages.map(({ pkg }) => `${pkg.name}@${versionOf.get(pkg.name)}`).sort()
  const first = await release(scratch, 'first release')
  record(
    `first release published exactly the packages not yet on the registry (all ${all.length})`,
    JSON.stringify(first) === JSON.stringify(all),
    first.join(', '),
  )
  await checkLatest(scratch, 'first release')
  const tags = run('git', ['tag', '--list'], { cwd: scratch }).out.trim().split('\n').filter(Boolean).sort()
  record(
    'first release tagged each published version in git',
    JSON.stringify(tags) === JSON.stringify(all),
    tags.join(', '),
  )
  const again = await release(scratch, 'release with nothing new')
  record('a release with nothing new publishes nothing', again.length === 0, again.join(', '))

  // 2. consume what was published
  await consume(lock)

  // 3. a user installs l1-cache by its exact version
  const l1 = { name: '@tierkit/l1-cache', version: versionOf.get('@tierkit/l1-cache') }
  const user = join(work, 'user')
  const userInstall = installConsumer(user, { [l1.name]: l1.version }, lock)
  record(
    `npm install ${l1.name}@${l1.version} from the registry`,
    userInstall.ok,
    userInstall.ok ? '' : userInstall.out.slice(-2000),
  )
  if (userInstall.ok) {
    writeFileSync(
      join(user, 'use.mjs'),
      "import { L1Cache } from '@tierkit/l1-cache'\nconst c = new L1Cache({ max: 2 })\nc.set('a', 1); c.set('b', 2); c.set('c', 3)\nconsole.log(JSON.stringify({ a: c.get('c'), size: c.size }))\n",
    )
    const use = run(process.execPath, ['use.mjs'], { cwd: user })
    const installed = readJson(join(user, 'node_modules', l1.name, 'package.json')).version
    record(
      `${l1.name}@${l1.version} installed and works`,
      use.ok && installed === l1.version && use.out.includes('"a":3'),
      `${installed}: ${use.out.trim().slice(-300)}`,
    )
  }

  // 4. a patch changeset to one package: the next release bumps and publishes that package alone
  const patch = join(scratch, '.changeset', 'rehearsal-patch.md')
  writeFileSync(patch, `---\n"${l1.name}": patch\n---\n\nRehearsal: a patch release of one package.\n`)
  const version = run('pnpm', ['version-packages'], { cwd: scratch, env: gitEnv })
  record('second release: pnpm version-packages ran', version.ok, version.ok ? '' : version.out.slice(-2000))
  const next = `${l1.version.split('.').slice(0, 2).join('.')}.${Number(l1.version.split('.')[2]) + 1}`
  const bumped = workspacePackages(scratch).filter(({ pkg }) => !all.includes(`${pkg.name}@${pkg.version}`))
  record(
    `second release: version-packages bumped ${l1.name} alone, to ${next}`,
    bumped.length === 1 &&
      bumped[0].pkg.name === l1.name &&
      bumped[0].pkg.version === next &&
      !existsSync(patch),
    bumped.map(({ pkg }) => `${pkg.name}@${pkg.version}`).join(', '),
  )
  const changelog = readFileSync(join(scratch, 'packages', 'l1-cache', 'CHANGELOG.md'), 'utf8')
  record(`second release: ${l1.name} CHANGELOG has ## ${next}`, changelog.includes(`## ${next}`))
  run('git', ['commit', '-qam', 'version packages'], { cwd: scratch, env: gitEnv })
  const second = await release(scratch, 'second release')
  record(
    `second release published ${l1.name}@${next} alone`,
    JSON.stringify(second) === JSON.stringify([`${l1.name}@${next}`]),
    second.join(', '),
  )
  await checkLatest(scratch, 'second release')
  const older = await registry.packument(l1.name)
  record(
    `${l1.name}@${l1.version} is still installable after the second release`,
    older?.versions?.[l1.version] !== undefined,
  )
  record(
    'the repository itself is untouched by the rehearsal',
    gitStatus() === statusBefore,
    gitStatus().slice(0, 500),
  )

  // 5. the OpenTelemetry adapter against the newest api 1.x, beside sdk-metrics 2.12
  await otelNewest(lock)
}

async function otelNewest(lock) {
  const sdk = lock.importers.get('packages/metrics')?.get('@opentelemetry/sdk-metrics')
  const dir = join(work, 'otel-newest')
  const deps = {
    '@tierkit/metrics': versionOf.get('@tierkit/metrics'),
    '@opentelemetry/api': NEWEST_OTEL_API,
    '@opentelemetry/sdk-metrics': sdk,
  }
  // sdk-metrics 2.12 declares @opentelemetry/api ">=1.9.0 <1.10.0": npm refuses the tree without this flag
  const install = installConsumer(dir, deps, lock, { legacyPeerDeps: true })
  record(
    `OpenTelemetry: install @opentelemetry/api@${NEWEST_OTEL_API} beside sdk-metrics ${sdk}`,
    install.ok,
    install.ok ? '' : install.out.slice(-2000),
  )
  if (!install.ok) return
  writeFileSync(
    join(dir, 'otel.mjs'),
    `import { metrics } from '@opentelemetry/api'
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { createCacheMetrics } from '@tierkit/metrics'
import { OTEL_ATTRIBUTES, OTEL_INSTRUMENTS, registerOpenTelemetryInstruments } from '@tierkit/metrics/opentelemetry'
const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
const provider = new MeterProvider({ readers: [reader] })
if (!metrics.setGlobalMeterProvider(provider)) throw new Error('global MeterProvider not set')
const m = createCacheMetrics({ layers: ['l1', 'l2'] })
registerOpenTelemetryInstruments(m) // the default meter: the global provider, through the adapter's own api import
for (let i = 0; i < 7; i++) m.observer.record('l1', 'hit', 0.1)
for (let i = 0; i < 3; i++) m.observer.record('l2', 'miss', 2)
await reader.forceFlush()
const points = exporter.getMetrics().at(-1).scopeMetrics.flatMap((s) => s.metrics).find((x) => x.descriptor.name === OTEL_INSTRUMENTS.requests).dataPoints
const count = (layer, outcome) => points.filter((p) => p.attributes[OTEL_ATTRIBUTES.layer] === layer && p.attributes[OTEL_ATTRIBUTES.outcome] === outcome).reduce((a, p) => a + p.value, 0)
const { readFileSync } = await import('node:fs')
const api = JSON.parse(readFileSync(new URL('./node_modules/@opentelemetry/api/package.json', import.meta.url), 'utf8')).version
const nested = (await import('node:fs')).existsSync(new URL('./node_modules/@tierkit/metrics/node_modules/@opentelemetry/api', import.meta.url))
console.log(JSON.stringify({ api, nested, l1hit: count('l1', 'hit'), l2miss: count('l2', 'miss') }))
await provider.shutdown()
`,
  )
  const r = run(process.execPath, ['otel.mjs'], { cwd: dir })
  let got = null
  try {
    got = JSON.parse(r.out.trim().split('\n').at(-1))
  } catch {}
  record(
    `OpenTelemetry adapter reports through @opentelemetry/api@${NEWEST_OTEL_API} and sdk-metrics ${sdk}`,
    r.ok && got?.api === NEWEST_OTEL_API && got.nested === false && got.l1hit === 7 && got.l2miss === 3,
    r.out.trim().slice(-600),
  )
}

try {
  await main()
} catch (err) {
  const why = registry
    ? `\nverdaccio (exit code ${registry.exitCode()}):\n${registry.log().slice(-2000)}`
    : ''
  record('release rehearsal and publish-and-consume check ran', false, `${err?.stack ?? err}${why}`)
}
const failed = checks.filter((c) => !c.ok).length
mkdirSync(join(root, '.test-results'), { recursive: true })
writeFileSync(
  join(root, '.test-results', 'consumers.json'),
  JSON.stringify({ passed: checks.length - failed, failed, checks }, null, 2),
)
console.log(`release and publish-and-consume: ${checks.length - failed} ok, ${failed} failed`)
// The registry child keeps the event loop alive: stop it and leave.
cleanup()
process.exit(failed > 0 ? 1 : 0)
