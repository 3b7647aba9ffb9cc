import { packageConfig } from '../../tsdown.base.ts'

export default packageConfig({
  entry: ['src/index.ts', 'src/worker.ts'],
  // the worker runtime is plain JavaScript that must stay a separate file next to index.js
  copy: ['src/worker-entry.js'],
})
