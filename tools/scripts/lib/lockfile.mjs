// Reads what the workspace's pnpm-lock.yaml (lockfile v9) pins, without a YAML dependency: the lockfile is
// machine-written, two-space indented, one key per line.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const unquote = (s) => s.trim().replace(/^'(.*)'$/, '$1')

/** Splits `name@version` (the name may start with `@`). */
function splitKey(key) {
  const at = key.lastIndexOf('@')
  return at > 0 ? [key.slice(0, at), key.slice(at + 1)] : [key, '']
}

/**
 * @returns {{ versions: Map<string, Set<string>>, importers: Map<string, Map<string, string>> }}
 *   `versions`: every locked third-party package and its versions (the `packages:` section);
 *   `importers`: per workspace project (`packages/metrics`), each direct dependency's locked version
 *   (peer suffixes such as `(typescript@5.9.3)` removed).
 */
export function readLockfile(root) {
  const text = readFileSync(join(root, 'pnpm-lock.yaml'), 'utf8')
  if (!/^lockfileVersion: '9\./m.test(text)) throw new Error('pnpm-lock.yaml: expected lockfileVersion 9')
  const versions = new Map()
  const importers = new Map()
  let section = ''
  let importer = null
  let dep = null
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) {
      section = line.replace(/:.*$/, '')
      continue
    }
    if (section === 'packages') {
      const m = /^ {2}(\S.*):$/.exec(line)
      if (m) {
        const [name, version] = splitKey(unquote(m[1]))
        if (!versions.has(name)) versions.set(name, new Set())
        versions.get(name).add(version)
      }
    } else if (section === 'importers') {
      let m
      if ((m = /^ {2}(\S.*):$/.exec(line))) {
        importer = new Map()
        importers.set(unquote(m[1]), importer)
      } else if ((m = /^ {6}(\S.*):$/.exec(line))) dep = unquote(m[1])
      else if ((m = /^ {8}version: (.*)$/.exec(line)) && importer && dep)
        importer.set(dep, unquote(m[1]).replace(/\(.*$/, ''))
    }
  }
  return { versions, importers }
}
