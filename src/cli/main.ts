#!/usr/bin/env node
/**
 * `sizeseg` command line. Errors are one line on stderr that names the problem and the fix, exit code 2
 * for usage errors and 1 for failures, 130 (SIGINT) or 143 (SIGTERM) for a run stopped by a signal after
 * saving what it had. `sizeseg --help` lists the commands; `sizeseg <command> --help` (or
 * `sizeseg help <command>`) prints a command's own help with its defaults (each command's file holds it).
 */
import '../kernels/wasm/nodeThreads.js'; // Node's worker threads for the WebAssembly kernels
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { disposeBackends } from '../backend.js';
import { commandHelp, globalHelp, type Command } from './command.js';
import { evaluateCommand, infoCommand, predictCommand, pretrainCommand, sizetrainCommand } from './commands.js';
import { dataCommand } from './data.js';
import { demoCommand } from './demo.js';
import { exportCommand } from './export.js';
import { Options, UsageError, parseCommandLine, type FlagType } from './options.js';
import { sizesegVersion } from './version.js';

/** The commands, in the order `sizeseg --help` lists them. */
export const COMMANDS: readonly Command[] = [
  demoCommand,
  pretrainCommand,
  sizetrainCommand,
  evaluateCommand,
  predictCommand,
  exportCommand,
  infoCommand,
  dataCommand,
];

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (!command)
    throw new UsageError(
      `unknown command '${name}'; commands: ${COMMANDS.map((c) => c.name).join(', ')}. Run 'sizeseg --help'.`,
    );
  return command;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const extraTypes: Record<string, FlagType> = Object.assign({}, ...COMMANDS.map((c) => c.flagTypes ?? {}));
    const args = parseCommandLine(argv, extraTypes);
    if (args.values.version) {
      process.stdout.write(`sizeseg ${sizesegVersion()}\n`);
      return 0;
    }
    if (args.command === 'help') {
      const [name, extra] = args.positionals;
      if (extra !== undefined) throw new UsageError(`'sizeseg help' takes one command, e.g. sizeseg help ${name}.`);
      process.stdout.write(
        name === undefined ? globalHelp(COMMANDS, sizesegVersion()) : commandHelp(findCommand(name)),
      );
      return 0;
    }
    if (args.command === undefined) {
      process.stdout.write(globalHelp(COMMANDS, sizesegVersion()));
      return args.values.help ? 0 : 2;
    }
    const command = findCommand(args.command);
    if (args.values.help) {
      process.stdout.write(commandHelp(command));
      return 0;
    }
    for (const [flag, value] of Object.entries(args.values)) {
      if (value !== undefined && !(flag in command.options)) {
        throw new UsageError(
          `--${flag} is not an option of '${command.name}'; its options: ${Object.keys(command.options)
            .map((f) => `--${f}`)
            .join(', ')} (sizeseg ${command.name} --help says what they do).`,
        );
      }
    }
    if (!command.positionals && args.positionals.length > 0)
      throw new UsageError(
        `unexpected argument '${args.positionals[0]}'; options start with --, e.g. --data synthetic.`,
      );
    return (await command.run(new Options(args.values), args.positionals)) ?? 0;
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
  // main() catches every error itself and resolves to the exit status; it never rejects.
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
