/** `POST /api/reports/price-stats`: a CPU-bound report run on the worker pool. */
import type { WorkerPool } from '@tierkit/worker-pool'
import type { FastifyInstance } from 'fastify'
import type { DemoStore } from '../db/types.js'
import { BadRequestError } from '../errors.js'
import type tasks from '../tasks.js'

/** Registers the report; the price columns are transferred to the worker, not copied. */
export function registerReports(
  app: FastifyInstance,
  store: DemoStore,
  pool: WorkerPool<typeof tasks>,
): void {
  app.post('/api/reports/price-stats', async (req) => {
    const body = (req.body ?? {}) as { resamples?: unknown }
    if (typeof body !== 'object' || body === null) throw new BadRequestError('body must be a JSON object')
    const resamples = body.resamples ?? 200
    if (typeof resamples !== 'number' || !Number.isInteger(resamples) || resamples < 0 || resamples > 5000) {
      throw new BadRequestError('resamples must be an integer from 0 to 5000')
    }
    const cols = await store.priceColumns()
    return pool.run(
      'priceStats',
      { ...cols, resamples },
      { transfer: [cols.prices.buffer as ArrayBuffer, cols.categoryIndex.buffer as ArrayBuffer] },
    )
  })
}
