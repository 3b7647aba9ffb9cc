import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const SETUP = join(import.meta.dirname, '..', 'setup.sh')
const dirs = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** Runs setup.sh in dry-run mode with a PATH holding only `present` (plus what the script itself runs). */
function dryRun(present) {
  const bin = mkdtempSync(join(tmpdir(), 'tierkit-setup-path-'))
  dirs.push(bin)
  for (const cmd of ['bash', 'sort', 'sed', 'id', ...present]) {
    const which = spawnSync('bash', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim()
    if (which) symlinkSync(which, join(bin, cmd))
  }
  return spawnSync(join(bin, 'bash'), [SETUP], {
    encoding: 'utf8',
    env: { PATH: bin, TIERKIT_SETUP_DRY_RUN: '1' },
  })
}

describe('tools/scripts/setup.sh', () => {
  it('would install the C++ toolchain and Python that better-sqlite3 compiles with when they are missing', () => {
    const r = dryRun(['redis-server', 'redis-cli', 'xz', 'nginx', 'promtool', 'chromium'])
    expect(r.status).toBe(0)
    const line = /setup: would install: (.*)/.exec(r.stdout)?.[1]?.split(' ') ?? []
    expect(line).toContain('g++')
    expect(line).toContain('make')
    expect(line).toContain('python3')
    // present commands are left alone
    expect(line).not.toContain('redis-server')
    expect(line).not.toContain('nginx')
  })

  it('names every missing Debian package once, and nothing when everything is there', () => {
    const none = dryRun([])
    const all = /setup: would install: (.*)/.exec(none.stdout)?.[1]?.split(' ') ?? []
    expect(new Set(all).size).toBe(all.length)
    // (nginx and pg_ctlcluster are also looked for in /usr/sbin, which this PATH cannot hide)
    for (const p of [
      'redis-server',
      'redis-tools',
      'xz-utils',
      'prometheus',
      'chromium',
      'g++',
      'make',
      'python3',
    ])
      expect(all).toContain(p)

    const host = spawnSync('bash', [SETUP], {
      encoding: 'utf8',
      env: { ...process.env, TIERKIT_SETUP_DRY_RUN: '1' },
    })
    expect(host.status).toBe(0)
    // this machine ran the set-up before its tests, so nothing is missing here
    expect(host.stdout).toContain('setup: would install: nothing')
  })
})
