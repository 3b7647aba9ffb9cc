/**
 * `--against <git-rev>`: builds the packages of another revision in a temporary git worktree (under the system's
 * temp folder, node_modules linked from this checkout, built with turbo there) so the harness can run against the
 * code before a fix. The worktree is removed afterwards.
 */
import { execFile, execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = resolve(fileURLToPath(new URL('../../..', import.meta.url)))

function run(cmd: string, args: string[], cwd: string, timeoutMs = 600_000): Promise<string> {
  return new Promise((res, rej) => {
    execFile(
      cmd,
      args,
      {
        cwd,
        timeout: timeoutMs,
        maxBuffer: 32 * 1024 * 1024,
        env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' },
      },
      (err, stdout, stderr) => {
        if (err) rej(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`))
        else res(stdout)
      },
    )
  })
}

/** The packages the harness loads. */
export const PACKAGES_UNDER_TEST = ['l1-cache', 'redis-aside', 'invalidation', 'cdn-headers']

/** Creates the worktree of `rev`, links node_modules, builds the packages; returns their folder and a remover. */
export async function buildAgainst(
  rev: string,
  log: (line: string) => void = () => {},
): Promise<{ packagesRoot: string; commit: string; remove: () => Promise<void> }> {
  if (!/^[\w./~^@{}-]+$/.test(rev)) throw new TypeError(`--against: not a git revision: ${rev}`)
  const commit = (await run('git', ['rev-parse', '--verify', `${rev}^{commit}`], repo)).trim()
  const dir = join(mkdtempSync(join(tmpdir(), 'tierkit-torture-against-')), 'tree')
  log(`[against] git worktree add ${dir} ${commit.slice(0, 12)}`)
  await run('git', ['worktree', 'add', '--detach', dir, commit], repo)
  let removed = false
  // an interrupted run (SIGINT, a crash) still removes the worktree
  const onExit = (): void => {
    if (removed) return
    rmSync(resolve(dir, '..'), { recursive: true, force: true })
    try {
      execFileSync('git', ['worktree', 'prune'], { cwd: repo, stdio: 'ignore' })
    } catch {
      // best effort
    }
  }
  process.on('exit', onExit)
  const remove = async (): Promise<void> => {
    removed = true
    process.off('exit', onExit)
    await run('git', ['worktree', 'remove', '--force', dir], repo).catch(() =>
      rmSync(dir, { recursive: true, force: true }),
    )
    await run('git', ['worktree', 'prune'], repo).catch(() => {})
    rmSync(resolve(dir, '..'), { recursive: true, force: true })
  }
  try {
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'))
    for (const group of ['packages', 'apps', 'tools']) {
      const g = join(dir, group)
      if (!existsSync(g)) continue
      for (const name of readdirSync(g)) {
        const mine = join(repo, group, name, 'node_modules')
        if (
          existsSync(mine) &&
          existsSync(join(g, name, 'package.json')) &&
          !existsSync(join(g, name, 'node_modules'))
        ) {
          symlinkSync(mine, join(g, name, 'node_modules'))
        }
      }
    }
    log(`[against] building ${PACKAGES_UNDER_TEST.join(', ')} at ${commit.slice(0, 12)}`)
    await run(
      join(repo, 'node_modules', '.bin', 'turbo'),
      [
        'run',
        'build',
        ...PACKAGES_UNDER_TEST.map((p) => `--filter=@tierkit/${p}`),
        '--output-logs=errors-only',
        '--cache-dir=.turbo-against',
      ],
      dir,
    )
    for (const p of PACKAGES_UNDER_TEST) {
      if (!existsSync(join(dir, 'packages', p, 'dist', 'index.js')))
        throw new Error(`--against: ${p} did not build at ${commit}`)
    }
    return { packagesRoot: join(dir, 'packages'), commit, remove }
  } catch (e) {
    await remove()
    throw e
  }
}
