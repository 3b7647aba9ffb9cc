/** A product row, as served by `GET /api/public/products/:id`. */
export interface Product {
  /** Primary key, 1..N. */
  id: number
  /** Display name. */
  name: string
  /** One of {@link CATEGORIES}. */
  category: string
  /** Brand number (indexed). */
  brandId: number
  /** Price in cents. */
  priceCents: number
  /** Units in stock. */
  stock: number
  /** Grows by one with every update. */
  version: number
  /** Last update, ISO 8601. */
  updatedAt: string
}

/** A user row. `apiToken` is the user's bearer token; it is never sent back. */
export interface User {
  /** Primary key, 1..N. */
  id: number
  /** Display name. */
  name: string
  /** Unique e-mail address. */
  email: string
  /** Creation time, ISO 8601. */
  createdAt: string
  /** Bearer token of this user. */
  apiToken: string
}

/** The fields `PUT /api/products/:id` may change. */
export interface ProductPatch {
  /** New name. */
  name?: string
  /** New price in cents. */
  priceCents?: number
  /** New stock. */
  stock?: number
}

/** Price column of the products, for the report (one entry per product). */
export interface PriceColumns {
  /** Prices in cents. */
  prices: Float64Array
  /** Category index (into `categories`) of each price. */
  categoryIndex: Int32Array
  /** Category names. */
  categories: string[]
}

/** The database behind the demo: the same behaviour over SQLite and PostgreSQL. */
export interface DemoStore {
  /** `sqlite` or `postgres`. */
  readonly kind: 'sqlite' | 'postgres'
  /** Creates the schema and seeds it when empty; returns whether it seeded. */
  init(seed: {
    products: number
    users: number
  }): Promise<{ seeded: boolean; products: number; users: number }>
  /** One product, or `undefined`. */
  getProduct(id: number): Promise<Product | undefined>
  /** Many products by id (absent ids are not in the map). */
  getProducts(ids: readonly number[]): Promise<Map<number, Product>>
  /** The ids of the first `limit` products of `category`, in id order (the category listing's members). */
  categoryProductIds(category: string, limit: number): Promise<number[]>
  /** One user, or `undefined`. */
  getUser(id: number): Promise<User | undefined>
  /** Writes a whole product row (version and updatedAt included). Resolves `false` when the row does not exist. */
  saveProduct(product: Product): Promise<boolean>
  /**
   * Sets view counters, each only when `version` is newer than the one stored (write-behind's contract).
   * Resolves the number of rows changed.
   */
  saveViews(writes: ReadonlyArray<{ id: number; views: number; version: number }>): Promise<number>
  /** The stored view counter of a product (0 when none). */
  getViews(id: number): Promise<number>
  /** Increments a view counter directly (used when there is no Redis for write-behind). */
  incrementViews(id: number): Promise<number>
  /** The price column and categories, for the report. */
  priceColumns(): Promise<PriceColumns>
  /** Names of the indexes on the two tables (for tests and the docs). */
  indexes(): Promise<string[]>
  /** Row counts. */
  counts(): Promise<{ products: number; users: number }>
  /** Closes the connection(s). */
  close(): Promise<void>
}
