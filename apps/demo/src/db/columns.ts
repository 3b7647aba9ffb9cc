/** The report's input, built from the products' `[price, category]` rows (both databases). */
import { CATEGORIES } from './seed.js'
import type { PriceColumns } from './types.js'

/** Builds the report's columns from `[price, category]` rows. */
export function columns(rows: ReadonlyArray<readonly [number | string, string]>): PriceColumns {
  const categories = [...CATEGORIES]
  const index = new Map(categories.map((c, i) => [c, i]))
  const prices = new Float64Array(rows.length)
  const categoryIndex = new Int32Array(rows.length)
  rows.forEach(([price, cat], i) => {
    prices[i] = Number(price)
    let ci = index.get(cat)
    if (ci === undefined) {
      ci = categories.push(cat) - 1
      index.set(cat, ci)
    }
    categoryIndex[i] = ci
  })
  return { prices, categoryIndex, categories }
}
