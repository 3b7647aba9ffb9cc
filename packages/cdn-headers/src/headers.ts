/**
 * The header writers of `compile`: the field values a rule's shared 2xx answer always gets (built once per rule),
 * the `Vary` merge and the cache tags written per response.
 *
 * @module
 */
import type { TagHeaderName } from './options.js'
import type { ResponseFacts } from './policy.js'
import { isValidTag, type ResolvedRule, type TagContext } from './rule.js'

/** Cache-Control, CDN value and joined static tags of a rule's shared 2xx answer. @internal */
export interface SharedHeaders {
  cc: string
  cdn: string
  tags: Record<string, string> | undefined
}

/** The field values of rule `r`'s shared 2xx answer, worked out once when the table is built. @internal */
export function sharedHeaders(r: ResolvedRule, tagHeaders: readonly TagHeaderName[]): SharedHeaders {
  const staleParts: string[] = []
  if (r.staleWhileRevalidate > 0) staleParts.push(`stale-while-revalidate=${r.staleWhileRevalidate}`)
  if (r.staleIfError > 0) staleParts.push(`stale-if-error=${r.staleIfError}`)
  const cc = ['public']
  if (r.maxAge > 0) {
    cc.push(`max-age=${r.maxAge}`, ...staleParts)
    if (r.immutable) cc.push('immutable')
  } else cc.push('no-cache')
  const cdn = r.cdnMaxAge > 0 ? [`max-age=${r.cdnMaxAge}`, ...staleParts].join(', ') : 'no-store'
  let tags: Record<string, string> | undefined
  if (typeof r.tags !== 'function' && r.tags.length > 0) {
    const unique = [...new Set(r.tags)]
    tags = {}
    for (const h of tagHeaders) tags[h] = unique.join(h === 'Cache-Tag' ? ',' : ' ')
  }
  return { cc: cc.join(', '), cdn, tags }
}

/** Splits a comma-separated field value into trimmed, non-empty members. @internal */
export function members(v: string | undefined): string[] {
  if (v === undefined) return []
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

/** Writes `Vary`: the handler's members, then the rule's names it lacks (compared case-insensitively). @internal */
export function writeVary(
  set: Record<string, string>,
  ruleVary: readonly string[],
  resVary: string | undefined,
): void {
  const vary = members(resVary)
  for (const v of ruleVary) if (!vary.some((x) => x.toLowerCase() === v.toLowerCase())) vary.push(v)
  if (vary.length > 0) set.Vary = vary.join(', ')
}

function safeTags(fn: (ctx: TagContext) => readonly string[], ctx: TagContext): readonly string[] {
  try {
    const t = fn(ctx)
    return Array.isArray(t) ? t : []
  } catch {
    return []
  }
}

/**
 * Writes the cache tags of one response: the handler's valid `Cache-Tag` members, then the rule's (static or
 * computed; invalid ones dropped), to every tag header.
 * @internal
 */
export function writeTags(
  set: Record<string, string>,
  rule: ResolvedRule,
  res: ResponseFacts,
  method: string,
  path: string,
  tagHeaders: readonly TagHeaderName[],
): void {
  const tags = new Set<string>(members(res.cacheTag).filter(isValidTag))
  const ruleTags =
    typeof rule.tags === 'function' ? safeTags(rule.tags, { method, path, status: res.status }) : rule.tags
  for (const t of ruleTags) if (isValidTag(t)) tags.add(t)
  if (tags.size > 0) {
    for (const name of tagHeaders) set[name] = [...tags].join(name === 'Cache-Tag' ? ',' : ' ')
  }
}
