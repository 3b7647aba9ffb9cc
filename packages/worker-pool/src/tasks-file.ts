// Where the threads find the tasks module, and how they load it: a `file:` URL or an absolute path, the `.js` ->
// `.ts` fallback for development, and the choice between `import()` and tsx.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { isAbsolute } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { invalidArgument } from '@tierkit/contracts'
import type { TasksLoader } from './types.js'

/** The values of the `loader` option. */
export const LOADERS: readonly TasksLoader[] = ['auto', 'native', 'tsx']

/** The tasks module the threads load, and how. */
export interface ResolvedTasks {
  readonly url: string
  readonly loader: 'native' | 'tsx'
}

const TSX_NEEDED = 'the optional peer dependency "tsx" to load TypeScript on worker threads'

/** Checks the `tasks` option and picks the loader; throws `TierkitTypeError` (from `createPool`) when it cannot. */
export function resolveTasks(tasks: unknown, loader: TasksLoader): ResolvedTasks {
  let url: URL | undefined
  if (tasks instanceof URL) url = tasks
  else if (typeof tasks === 'string' && tasks.startsWith('file:'))
    url = URL.canParse(tasks) ? new URL(tasks) : undefined
  else if (typeof tasks === 'string' && isAbsolute(tasks)) url = pathToFileURL(tasks)
  if (url === undefined || url.protocol !== 'file:') {
    throw invalidArgument(
      'createPool',
      'tasks',
      'a file: URL or an absolute path',
      tasks instanceof URL ? tasks.href : tasks,
    )
  }
  let path = fileURLToPath(url)
  if (!existsSync(path)) {
    const ts = path.replace(/\.(c|m)?js$/, (_m, p: string | undefined) => `.${p ?? ''}ts`)
    if (ts !== path && existsSync(ts)) path = ts
    else throw invalidArgument('createPool', 'tasks', 'an existing file (or its .ts source)', path)
  }
  const mode = loader === 'auto' ? (/\.(?:[cm]?ts|tsx)$/.test(path) ? 'tsx' : 'native') : loader
  if (mode === 'tsx') {
    try {
      createRequire(import.meta.url).resolve('tsx/esm/api')
    } catch {
      throw loader === 'tsx'
        ? invalidArgument('createPool', 'loader', `'native' or 'auto' without ${TSX_NEEDED}`, loader)
        : invalidArgument(
            'createPool',
            'tasks',
            `a .js file, or a .ts file with ${TSX_NEEDED} installed`,
            path,
          )
    }
  }
  return { url: pathToFileURL(path).href, loader: mode }
}
