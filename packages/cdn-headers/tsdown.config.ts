import { packageConfig } from '../../tsdown.base.ts'

export default packageConfig({
  entry: ['src/index.ts', 'src/node.ts', 'src/fastify.ts', 'src/cloudflare.ts', 'src/nginx.ts'],
  external: ['fastify'],
})
