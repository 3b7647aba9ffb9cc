import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const pkg = join(here, '..')

/** The built entry when it is newer than every source file (turbo builds before testing), else the sources via tsx. */
export function packageEntry(): { args: string[]; entry: string } {
  const dist = join(pkg, 'dist', 'index.js')
  const src = join(pkg, 'src')
  const newestSrc = Math.max(...readdirSync(src).map((f) => statSync(join(src, f)).mtimeMs))
  if (existsSync(dist) && statSync(dist).mtimeMs >= newestSrc)
    return { args: [], entry: pathToFileURL(dist).href }
  return { args: ['--import', 'tsx'], entry: pathToFileURL(join(src, 'index.ts')).href }
}

/** A child process running `test/fixtures/<fixture>`; `next()` resolves with its next stdout line. */
export class WorkerProcess {
  readonly child: ChildProcessWithoutNullStreams
  private buffer = ''
  private readonly lines: string[] = []
  private waiting: ((line: string) => void) | undefined
  private stderr = ''

  constructor(fixture: string) {
    const env: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST')) env[k] = v
    const { args, entry } = packageEntry()
    env.RA_ENTRY = entry
    this.child = spawn(process.execPath, [...args, join(here, 'fixtures', fixture)], { cwd: pkg, env })
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString()
    })
    this.child.stdout.on('data', (d: Buffer) => {
      this.buffer += d.toString()
      let nl = this.buffer.indexOf('\n')
      while (nl >= 0) {
        const line = this.buffer.slice(0, nl)
        this.buffer = this.buffer.slice(nl + 1)
        if (this.waiting) {
          const w = this.waiting
          this.waiting = undefined
          w(line)
        } else {
          this.lines.push(line)
        }
        nl = this.buffer.indexOf('\n')
      }
    })
  }

  next(): Promise<string> {
    const line = this.lines.shift()
    if (line !== undefined) return Promise.resolve(line)
    return new Promise((resolve, reject) => {
      this.waiting = resolve
      this.child.once('exit', (code) => reject(new Error(`worker exited (${code}): ${this.stderr}`)))
    })
  }

  /** The next line, parsed as JSON. */
  async nextJson<T = Record<string, unknown>>(): Promise<T> {
    return JSON.parse(await this.next()) as T
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`)
  }

  /** Sends one JSON command. */
  command(cmd: Record<string, unknown>): void {
    this.send(JSON.stringify(cmd))
  }

  kill(): void {
    this.child.kill('SIGKILL')
  }
}
