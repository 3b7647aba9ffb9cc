import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import * as core from '../src/core.js'
import * as main from '../src/index.js'

const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src')

/** Every module that `file` reaches through relative imports, and every bare specifier they import. */
function reach(file: string, seen = new Set<string>(), bare = new Set<string>()): Set<string> {
  if (seen.has(file)) return bare
  seen.add(file)
  const text = readFileSync(join(src, file), 'utf8')
  for (const m of text.matchAll(
    /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'|(?:^|\n)import\s+'([^']+)'/g,
  )) {
    const spec = (m[1] ?? m[2])!
    if (spec.startsWith('./')) reach(spec.slice(2).replace(/\.js$/, '.ts'), seen, bare)
    else bare.add(spec)
  }
  return bare
}

describe('the core and the hooks', () => {
  it('the core reaches no vitest import (the demo bundles it, child processes run it)', () => {
    const bare = reach('core.ts')
    expect([...bare].filter((s) => s.includes('vitest'))).toEqual([])
    expect(bare.has('node:child_process')).toBe(true)
  })

  it('the main entry is the core plus the vitest hooks', () => {
    expect(reach('index.ts').has('vitest')).toBe(true)
    expect(Object.keys(main).sort()).toEqual(Object.keys(core).sort())
    for (const name of ['startRedis', 'startRedisCluster', 'startSentinel', 'startNginx', 'delayProxy']) {
      expect(typeof (core as Record<string, unknown>)[name]).toBe('function')
    }
  })

  it('the nginx subpath registers the hooks too', () => {
    expect(reach('nginx-entry.ts').has('vitest')).toBe(true)
  })
})
