#!/usr/bin/env node
/**
 * `sizeseg` command line. Errors are one line on stderr that names the problem and the fix, exit code 2
 * for usage errors and 1 for failures, 130 (SIGINT) or 143 (SIGTERM) for a run stopped by a signal after
 * saving what it had; `--help` lists commands and options.
 */
import '../kernels/wasm/nodeThreads.js'; // Node's worker threads for the WebAssembly kernels
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { disposeBackends } from '../backend.js';
import { cmdEvaluate, cmdInfo, cmdPredict, cmdPretrain, cmdSizetrain } from './commands.js';
import { cmdData } from './data.js';
import { cmdDemo } from './demo.js';
import { cmdExport } from './export.js';
import { Options, UsageError, helpText, parseCommandLine } from './options.js';

/** A command resolves to its exit status (130/143 for a run interrupted by SIGINT/SIGTERM), or nothing for 0. */
const COMMANDS: Record<string, (opts: Options) => Promise<number | void>> = {
  demo: cmdDemo,
  pretrain: cmdPretrain,
  sizetrain: cmdSizetrain,
  evaluate: cmdEvaluate,
  predict: cmdPredict,
  export: cmdExport,
  info: cmdInfo,
};

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const args = parseCommandLine(argv);
    if (args.values.help || args.command === 'help' || args.command === undefined) {
      process.stdout.write(helpText());
      return args.command === undefined && !args.values.help ? 2 : 0;
    }
    if (args.command === 'data') {
      await cmdData(args.positionals, new Options(args.values)); // the one command with words after it
      return 0;
    }
    const command = COMMANDS[args.command];
    if (!command) throw new UsageError(`unknown command '${args.command}'; commands: ${[...Object.keys(COMMANDS), 'data'].join(', ')}. Run 'sizeseg --help'.`);
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'; options start with --, e.g. --data synthetic.`);
    return (await command(new Options(args.values))) ?? 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`sizeseg: error: ${message}\n`);
    if (process.env.SIZESEG_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  } finally {
    disposeBackends();
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
