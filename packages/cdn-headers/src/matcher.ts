/**
 * The compiled matcher: the rules' path patterns as regular expressions, and the lookup of the rule covering a
 * request under every reading of its path (see `path.ts`), failing closed when the readings disagree. Runs in
 * `compile` and `match` for every request.
 *
 * @module
 */
import {
  FLAG_DOUBLE_SLASH,
  FLAG_ESCAPES,
  FLAG_FOLD,
  FLAG_SEMICOLON,
  FLAG_TRAILING_SLASH,
  type PathIssue,
  type PathScan,
  readingsOf,
  scanPath,
} from './path.js'
import type { HttpMethod, ResolvedRule } from './rule.js'

/**
 * Scratch of the path scan: matching is synchronous and reads it back at once. After
 * {@link RuleMatcher.resolve}, `SCAN.path` is the normalised path of the request.
 * @internal
 */
export const SCAN: PathScan = { path: '', raw: '', flags: 0, issue: undefined }
const MAX_ROUTE_CACHE = 512

/** A path pattern (`*` matches any run of characters, the rest is literal) as an anchored RegExp. */
function globToRegExp(pattern: string): RegExp {
  const src = pattern
    .split('*')
    .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')
  return new RegExp(`^${src}$`)
}

/** The rules of one table, compiled for matching. @internal */
export class RuleMatcher {
  /** Why the last {@link RuleMatcher.resolve} found no safe reading. */
  issue: PathIssue | undefined
  readonly #rules: readonly ResolvedRule[]
  readonly #maxPathLength: number
  readonly #matchers: readonly RegExp[]
  /** Matchers of the lower-cased patterns, for the case-folded readings. */
  readonly #foldMatchers: readonly RegExp[]
  /** Whether some pattern changes under `toLowerCase()` (then every path gets the folded reading). */
  readonly #foldPatterns: boolean
  readonly #anyAuthenticated: boolean
  /** Per method and route pattern: the authenticated rule it matches, or null. */
  readonly #routeAuth = new Map<string, ResolvedRule | null>()

  constructor(rules: readonly ResolvedRule[], maxPathLength: number) {
    this.#rules = rules
    this.#maxPathLength = maxPathLength
    this.#matchers = rules.map((r) => globToRegExp(r.path))
    this.#foldMatchers = rules.map((r) => globToRegExp(r.path.toLowerCase()))
    this.#foldPatterns = rules.some((r) => r.path.toLowerCase() !== r.path)
    this.#anyAuthenticated = rules.some((r) => r.authenticated)
  }

  /** The first rule covering `m` whose (case-sensitive, or folded) matcher accepts `p`. */
  #first(m: string, p: string, fold: boolean): ResolvedRule | undefined {
    const matchers = fold ? this.#foldMatchers : this.#matchers
    for (let i = 0; i < this.#rules.length; i++) {
      const r = this.#rules[i]!
      if (r.methods.includes(m as HttpMethod) && matchers[i]!.test(p)) return r
    }
    return undefined
  }

  /** The authenticated rule the route pattern `route` falls under, if any (cached per method and pattern). */
  #authForRoute(m: string, route: string): ResolvedRule | undefined {
    const key = m === 'GET' ? route : `${m} ${route}`
    let hit = this.#routeAuth.get(key)
    if (hit === undefined) {
      const a = this.#first(m, route, false)
      const b = a?.authenticated ? a : this.#first(m, route.toLowerCase(), true)
      hit = b?.authenticated ? b : null
      if (this.#routeAuth.size < MAX_ROUTE_CACHE) this.#routeAuth.set(key, hit)
    }
    return hit ?? undefined
  }

  /**
   * The rule of a request (method `m`, upper case): `null` when the path cannot be normalised unambiguously
   * (`issue` says why), else the most restrictive of its readings' rules. The normalised path is left in
   * `SCAN.path`.
   */
  resolve(m: string, target: string, route: string | undefined): ResolvedRule | undefined | null {
    this.issue = undefined
    if (!scanPath(target, this.#maxPathLength, SCAN)) {
      this.issue = SCAN.issue
      return null
    }
    const path = SCAN.path
    const primary = this.#first(m, path, false)
    let auth = primary?.authenticated === true ? primary : undefined
    let disagree = false
    const flags = SCAN.flags
    const several = (flags & (FLAG_DOUBLE_SLASH | FLAG_SEMICOLON | FLAG_ESCAPES | FLAG_TRAILING_SLASH)) !== 0
    const fold = this.#foldPatterns || (flags & FLAG_FOLD) !== 0
    if (several || fold) {
      const readings = several ? readingsOf(SCAN) : [path]
      for (const r of readings) {
        const x = r === path ? primary : this.#first(m, r, false)
        if (x !== primary) disagree = true
        if (auth === undefined && x?.authenticated === true) auth = x
        if (fold) {
          const lower = r.toLowerCase()
          // an unchanged reading against unchanged (all lower-case) patterns: the same answer as above
          if (lower === r && !this.#foldPatterns) continue
          const y = this.#first(m, lower, true)
          if (y !== primary) disagree = true
          if (auth === undefined && y?.authenticated === true) auth = y
        }
      }
    }
    if (auth === undefined && route !== undefined && this.#anyAuthenticated)
      auth = this.#authForRoute(m, route)
    if (auth !== undefined) return auth
    if (disagree) {
      this.issue = 'ambiguous'
      return null
    }
    return primary
  }
}
