import { packageConfig } from '../../tsdown.base.ts'

export default packageConfig({
  entry: ['src/index.ts', 'src/prometheus.ts', 'src/opentelemetry.ts', 'src/tracing.ts'],
})
