/** The demo's caching policy (`@tierkit/cdn-headers`). */
import { definePolicy } from '@tierkit/cdn-headers'

/** The caching policy: the public API cached 10 minutes at the edge, authenticated routes bypassed. */
export const policy: ReturnType<typeof definePolicy> = definePolicy([
  { name: 'users', path: '/api/users/*', authenticated: true },
  {
    name: 'public api',
    path: '/api/public/*',
    maxAge: 600, // seconds, like the directives they write
    cdnMaxAge: 600,
    staleWhileRevalidate: 60,
    negativeMaxAge: 30,
    tags: ['public'],
  },
])
