/** The demo's caching policy (`@tierkit/cdn-headers`). */
import { definePolicy } from '@tierkit/cdn-headers'

/** The caching policy: the public API and the category listings cached 10 minutes at the edge, authenticated routes bypassed. */
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
  {
    // the category listings: as public and as long at the edge; a product update removes them by tag
    name: 'category listings',
    path: '/api/categories/*',
    maxAge: 600,
    cdnMaxAge: 600,
    staleWhileRevalidate: 60,
    negativeMaxAge: 30,
    tags: ['public'],
  },
])
