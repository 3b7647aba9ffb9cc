/** `@tierkit/testkit/nginx`: `startNginx` and its config (from the core) with the vitest hooks, as the main entry. */
import './vitest.js'

export * from './nginx.js'
export * from './nginx-http.js'
