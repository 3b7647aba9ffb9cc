/**
 * Which credentials a request carries (`Authorization`, a session cookie), and the session-cookie predicate the
 * `sessionCookie` option builds. `credentialsOf` runs in `compile` for every request that has either header.
 *
 * @module
 */
import { describeValue } from '@tierkit/contracts'
import { InvalidPolicyError } from './errors.js'
import type { PolicyOptions } from './options.js'
import type { CredentialKind } from './rule.js'

const DEFAULT_SESSION = /sess|sid|auth|token|jwt/i

/**
 * The predicate of the `sessionCookie` option: whether a cookie name counts as a session.
 * @throws InvalidPolicyError (`E_INVALID_POLICY`) for a value that is none of the accepted forms
 * @internal
 */
export function sessionPredicate(option: PolicyOptions['sessionCookie']): (name: string) => boolean {
  const sc = option ?? DEFAULT_SESSION
  if (sc === 'any') return () => true
  if (sc instanceof RegExp) {
    const re = new RegExp(sc.source, sc.flags.replace(/[gy]/g, ''))
    return (n) => re.test(n)
  }
  if (typeof sc === 'function') return sc
  if (Array.isArray(sc)) {
    const set = new Set(sc)
    return (n) => set.has(n)
  }
  throw new InvalidPolicyError(
    -1,
    'sessionCookie',
    "a RegExp, an array of cookie names, a function or 'any'",
    describeValue(sc),
  )
}

/** A header's value as one string (several field lines joined with `, `). */
function headerString(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined
  return Array.isArray(v) ? v.join(', ') : v
}

/**
 * The credential kinds a request carries: `'authorization'` and/or `'session-cookie'` (a new array).
 * @internal
 */
export function credentialsOf(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  isSession: (name: string) => boolean,
): CredentialKind[] {
  const out: CredentialKind[] = []
  const auth = headerString(headers.authorization)
  if (auth !== undefined && auth.length > 0) out.push('authorization')
  const cookie = headerString(headers.cookie)
  if (cookie !== undefined) {
    for (const part of cookie.split(';')) {
      const eq = part.indexOf('=')
      const name = (eq === -1 ? part : part.slice(0, eq)).trim()
      if (name.length > 0 && isSession(name)) {
        out.push('session-cookie')
        break
      }
    }
  }
  return out
}
