import { packageConfig } from '../../tsdown.base.ts'

export default packageConfig({
  entry: ['src/index.ts'],
  // members marked @internal (the cached clock reading) stay out of the published types
  dts: { oxc: { stripInternal: true } },
})
