// Minimal declarations for http-cache-semantics 4.3 (it ships JSDoc-typed JavaScript only).
declare module 'http-cache-semantics' {
  interface Req {
    url?: string
    method?: string
    headers: Record<string, string | string[] | undefined>
  }
  interface Res {
    status?: number
    headers: Record<string, string | string[] | undefined>
  }
  interface Options {
    shared?: boolean
    cacheHeuristic?: number
    immutableMinTimeToLive?: number
    ignoreCargoCult?: boolean
  }
  export class CachePolicy {
    constructor(req: Req, res: Res, options?: Options)
    now(): number
    storable(): boolean
    satisfiesWithoutRevalidation(req: Req): boolean
    evaluateRequest(req: Req): {
      response: { headers: Record<string, string>; status: number } | undefined
      revalidation: { headers: Record<string, string>; synchronous: boolean } | undefined
    }
    responseHeaders(): Record<string, string>
    age(): number
    maxAge(): number
    timeToLive(): number
    stale(): boolean
    useStaleWhileRevalidate(): boolean
    revalidationHeaders(req: Req): Record<string, string>
    revalidatedPolicy(req: Req, res: Res): { policy: CachePolicy; modified: boolean; matches: boolean }
  }
  export default CachePolicy
}
