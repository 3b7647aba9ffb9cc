import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readLockfile } from '../lib/lockfile.mjs'

const root = resolve(import.meta.dirname, '../../..')
const tmp = mkdtempSync(join(tmpdir(), 'tierkit-lock-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('readLockfile', () => {
  it('reads the versions and the importers of a v9 lockfile, peer suffixes removed', () => {
    writeFileSync(
      join(tmp, 'pnpm-lock.yaml'),
      [
        "lockfileVersion: '9.0'",
        '',
        'importers:',
        '',
        '  packages/a:',
        '    devDependencies:',
        "      '@scope/peer':",
        '        specifier: 1.2.3',
        '        version: 1.2.3',
        '      tool:',
        '        specifier: ^2.0.0',
        '        version: 2.1.0(typescript@5.9.3)',
        '',
        'packages:',
        '',
        "  '@scope/peer@1.2.3':",
        '    resolution: {integrity: sha512-x}',
        '',
        '  tool@2.1.0:',
        '    resolution: {integrity: sha512-y}',
        '',
        '  tool@1.0.0:',
        '    resolution: {integrity: sha512-z}',
        '',
        'snapshots:',
        '',
        '  tool@2.1.0(typescript@5.9.3): {}',
        '',
      ].join('\n'),
    )
    const { versions, importers } = readLockfile(tmp)
    expect([...versions.get('@scope/peer')]).toEqual(['1.2.3'])
    expect([...versions.get('tool')].sort()).toEqual(['1.0.0', '2.1.0'])
    expect(importers.get('packages/a')?.get('tool')).toBe('2.1.0')
    expect(importers.get('packages/a')?.get('@scope/peer')).toBe('1.2.3')
    // the snapshots section is not read as packages
    expect(versions.has('tool@2.1.0(typescript')).toBe(false)
  })

  it("reads the workspace's own lockfile: each package's locked peers", () => {
    const { versions, importers } = readLockfile(root)
    const metrics = JSON.parse(readFileSync(join(root, 'packages/metrics/package.json'), 'utf8'))
    for (const peer of Object.keys(metrics.peerDependencies)) {
      const locked = importers.get('packages/metrics')?.get(peer)
      expect(locked, peer).toMatch(/^\d+\.\d+\.\d+$/)
      expect(versions.get(peer)?.has(locked)).toBe(true)
    }
    expect(versions.size).toBeGreaterThan(100)
  })

  it('refuses a lockfile of another format', () => {
    writeFileSync(join(tmp, 'pnpm-lock.yaml'), "lockfileVersion: '6.0'\n")
    expect(() => readLockfile(tmp)).toThrow(/lockfileVersion 9/)
  })
})
