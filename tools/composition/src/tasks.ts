// tasks.ts: runs on the worker threads (as the worker-pool README's tasks.ts)
import { defineTasks } from '@tierkit/worker-pool/worker'

export default defineTasks({
  sumSquares: (n: number) => {
    let total = 0
    for (let i = 0; i < n; i++) total += i * i
    return total
  },
  hashReport: async (rows: { id: number; amount: number }[]) => ({
    count: rows.length,
    total: rows.reduce((sum, row) => sum + row.amount, 0),
  }),
})
