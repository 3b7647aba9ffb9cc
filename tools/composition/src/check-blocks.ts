/**
 * `pnpm --filter @tierkit/composition blocks`: extracts every ```ts block of the READMEs and docs, compiles them
 * (see readme-blocks.ts) and prints each error at its Markdown line. Exit code 1 when a block does not compile.
 */
import { allBlocks, compileBlocks } from './readme-blocks.js'

const blocks = allBlocks()
const errors = compileBlocks(blocks)
for (const e of errors) console.log(`${e.where}: TS${e.code}: ${e.message.split('\n')[0]}`)
const failing = new Set(errors.map((e) => `${e.block.doc}#${e.block.index}`))
console.log(
  `${blocks.length} blocks in ${new Set(blocks.map((b) => b.doc)).size} files: ${blocks.length - failing.size} compile, ${failing.size} do not`,
)
process.exit(errors.length > 0 ? 1 : 0)
