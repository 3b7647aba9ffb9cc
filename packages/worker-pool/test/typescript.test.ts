// A tasks module written in TypeScript, in development (loaded through tsx on the threads) and built (compiled
// to .js, loaded natively, no tsx anywhere). Thread starts through tsx are slow, so this file keeps them few.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, test } from 'vitest'
import { createPool } from '../src/index.js'
import { expectNoProcessErrors, rejection, type Tasks } from './helpers.js'

expectNoProcessErrors()

const run = promisify(execFile)
const packageDir = fileURLToPath(new URL('..', import.meta.url))

interface AppOutput {
  loader: string
  tasksUrl: string
  sum: number
  report: { count: number; total: number }
  error: { name: string; message: string; cause: string; stack: string }
}

async function app(args: string[]): Promise<AppOutput> {
  const { stdout } = await run(process.execPath, args, { cwd: packageDir, timeout: 60_000 })
  return JSON.parse(stdout) as AppOutput
}

describe('development: .ts tasks through tsx', () => {
  // `./fixtures/tasks.js` does not exist next to this file, `./fixtures/tasks.ts` does: the pool picks it
  const pool = createPool<Tasks>({
    tasks: new URL('./fixtures/tasks.js', import.meta.url),
    minThreads: 1,
    maxThreads: 1,
  })
  afterAll(() => pool.destroy())

  test('a .js specifier falls back to the .ts source, loaded with tsx', async () => {
    expect(pool.loader).toBe('tsx')
    expect(pool.tasksUrl).toMatch(/\/test\/fixtures\/tasks\.ts$/)
    expect(await pool.run('add', { a: 20, b: 22 })).toBe(42)
    expect(await pool.map('sumSquares', [3, 4])).toEqual([5, 14])
  })

  test('errors keep name, cause and a stack into the .ts source', async () => {
    const err = await rejection(pool.run('throwValidation', 'zip'))
    expect(err.name).toBe('ValidationError')
    expect(err.field).toBe('zip')
    expect((err.cause as Error).message).toBe('out of range')
    expect(err.stack).toContain('tasks.ts')
  })

  test('a crashed thread is replaced by one that loads the .ts file again', async () => {
    const err = await rejection(pool.run('exit', 4))
    expect(err.code).toBe('E_WORKER_CRASHED')
    expect(await pool.run('ping')).toBe('pong')
  })

  test('an explicit .ts path works too', async () => {
    const direct = createPool<Tasks>({
      tasks: fileURLToPath(new URL('./fixtures/tasks.ts', import.meta.url)),
      minThreads: 0,
      maxThreads: 1,
    })
    try {
      expect(direct.loader).toBe('tsx')
      expect(await direct.run('ping')).toBe('pong')
    } finally {
      await direct.destroy()
    }
  })
})

describe('a consumer app in its own process', () => {
  test('development: `node --import tsx main.ts` with tasks.ts', async () => {
    const out = await app(['--import', 'tsx', 'test/fixtures/app/main.ts'])
    expect(out.loader).toBe('tsx')
    expect(out.tasksUrl).toMatch(/\/test\/fixtures\/app\/tasks\.ts$/)
    expect(out.sum).toBe(332_833_500)
    expect(out.report).toEqual({ count: 2, total: 12 })
    expect(out.error).toMatchObject({ name: 'RangeError', message: 'row 3 out of range', cause: 'upstream' })
    expect(out.error.stack).toContain('tasks.ts')
  })

  test('built: plain `node dist/main.js` with the compiled tasks.js and the built package', async () => {
    expect(
      existsSync(new URL('../dist/index.js', import.meta.url)),
      'build the package first (pnpm build)',
    ).toBe(true)
    const out = await app(['test/fixtures/app/dist/main.js'])
    expect(out.loader).toBe('native')
    expect(out.tasksUrl).toMatch(/\/test\/fixtures\/app\/dist\/tasks\.js$/)
    expect(out.sum).toBe(332_833_500)
    expect(out.report).toEqual({ count: 2, total: 12 })
    expect(out.error).toMatchObject({ name: 'RangeError', message: 'row 3 out of range', cause: 'upstream' })
    expect(out.error.stack).toContain('dist/tasks.js')
  })
})
