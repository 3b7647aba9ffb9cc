/** The tierkit demo service (private app): entry points for the CLI, the load generator and the tests. */
export {
  type CircuitRecord,
  createDemo,
  type Demo,
  type DemoOptions,
  type InvalidationRecord,
  policy,
  type TagPurger,
} from './app.js'
export { type DemoConfig, loadConfig } from './config.js'
export { userToken } from './db/seed.js'
export type { DemoStore, Product, User } from './db/types.js'
export { BadRequestError, ConfigError, DemoError, NotFoundError, UnauthorizedError } from './errors.js'
