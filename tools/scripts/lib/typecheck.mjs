// The consumer type-check gate. It compiles a consumer project with `skipLibCheck: false` and sorts every
// diagnostic by the file it is in:
//   ours        - the consumer's own files and every declaration under node_modules/@tierkit/: these fail the gate;
//   thirdParty  - declarations of other packages (ioredis 6.0/6.1 import the untyped `redis-errors`, TS7016):
//                 reported, never failing, so a defect in someone else's package cannot turn our gate red,
//                 while a defect in our own .d.ts still does.
import { createRequire } from 'node:module'
import { dirname, join, sep } from 'node:path'

export function loadTypeScript(root) {
  return createRequire(join(root, 'package.json'))('typescript')
}

/** Type-checks the project of `tsconfigPath`; returns the sorted diagnostics, formatted. */
export function typecheckConsumer(ts, tsconfigPath) {
  const host = {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    },
  }
  const parsed = ts.getParsedCommandLineOfConfigFile(tsconfigPath, {}, host)
  if (parsed.options.skipLibCheck) throw new Error(`${tsconfigPath}: the gate needs skipLibCheck: false`)
  const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options })
  const all = [...parsed.errors, ...ts.getPreEmitDiagnostics(program)]
  const cwd = dirname(tsconfigPath)
  const format = (d) =>
    ts.formatDiagnostics([d], {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: () => cwd,
      getNewLine: () => '\n',
    })
  const ours = []
  const thirdParty = []
  const ourDeclarations = new Set()
  for (const f of program.getSourceFiles()) if (isOurs(f.fileName)) ourDeclarations.add(f.fileName)
  for (const d of all) {
    const file = d.file?.fileName
    if (file === undefined || isOurs(file)) ours.push({ code: d.code, file, text: format(d) })
    else thirdParty.push({ code: d.code, file, text: format(d) })
  }
  return {
    ours,
    thirdParty,
    /** How many files of ours the program checked (consumer files and @tierkit declarations). */
    checkedFiles: ourDeclarations.size,
  }
}

function isOurs(file) {
  const f = file.split(sep).join('/')
  return !f.includes('/node_modules/') || f.includes('/node_modules/@tierkit/')
}
