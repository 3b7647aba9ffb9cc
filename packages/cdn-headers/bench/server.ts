/**
 * Child process of the HTTP benchmark: serves one variant of `apps.ts` on a loopback port and reports its own CPU
 * time over IPC, so the figure is the server's CPU per request, untouched by the load generator's work.
 */
import { variants } from './apps.js'

const name = process.argv[2]!
const app = await variants[name]!()
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.on('message', (m: string) => {
  if (m === 'cpu') {
    const u = process.cpuUsage()
    process.send!({ cpu: u.user + u.system })
  } else if (m === 'close') void app.close().then(() => process.exit(0))
})
process.send!({ url })
