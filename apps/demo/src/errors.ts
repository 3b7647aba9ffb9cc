/** Error classes of the demo service. Each has a stable `code`. */

/** Codes of {@link DemoError}. */
export type DemoErrorCode =
  | 'E_CONFIG'
  | 'E_PORT_IN_USE'
  | 'E_NOT_FOUND'
  | 'E_BAD_REQUEST'
  | 'E_UNAUTHORIZED'
  | 'E_DEPENDENCY'

/** Base class of the demo's errors. */
export class DemoError extends Error {
  /** Stable machine-readable code. */
  readonly code: DemoErrorCode
  /** HTTP status the error maps to. */
  readonly status: number
  constructor(code: DemoErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.status = status
  }
}

/** A configuration variable is invalid; `variable` names it. Code `E_CONFIG`. */
export class ConfigError extends DemoError {
  /** The environment variable at fault. */
  readonly variable: string
  constructor(variable: string, message: string) {
    super('E_CONFIG', 500, `invalid configuration: ${variable} ${message}`)
    this.variable = variable
  }
}

/**
 * The port the demo was told to listen on (`PORT`, 3000 by default) is taken by another process.
 * Code `E_PORT_IN_USE`; the message is one line that names `PORT=0` (a free port picked by the system).
 */
export class PortInUseError extends DemoError {
  /** The address that was taken. */
  readonly host: string
  /** The port that was taken. */
  readonly port: number
  constructor(host: string, port: number, options?: { cause?: unknown }) {
    super(
      'E_PORT_IN_USE',
      500,
      `port ${port} on ${host} is already in use: stop what listens there, or start with PORT=<another port>, or PORT=0 for a free one`,
      options,
    )
    this.host = host
    this.port = port
  }
}

/** A route argument is malformed. Code `E_BAD_REQUEST` (HTTP 400). */
export class BadRequestError extends DemoError {
  constructor(message: string) {
    super('E_BAD_REQUEST', 400, message)
  }
}

/** The resource does not exist. Code `E_NOT_FOUND` (HTTP 404). */
export class NotFoundError extends DemoError {
  constructor(message: string) {
    super('E_NOT_FOUND', 404, message)
  }
}

/** Missing or wrong bearer token. Code `E_UNAUTHORIZED` (HTTP 401). */
export class UnauthorizedError extends DemoError {
  constructor(message = 'a valid bearer token is required') {
    super('E_UNAUTHORIZED', 401, message)
  }
}
