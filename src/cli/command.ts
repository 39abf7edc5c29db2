/**
 * A `sizeseg` subcommand: its help — what it does, its options with their defaults, examples — next to the
 * code that runs it. main.ts lists the commands; a new command is a file that exports a `Command` and one
 * line in that list. Help stands alone: examples use built-in synthetic data or the downloaded copy
 * (`--data msd`), never files a user's clone does not have.
 */
import type { FlagType, Options } from './options.js';

export interface Command {
  name: string;
  /** One line for the command list of `sizeseg --help`. */
  summary: string;
  /** Usage lines without the leading 'sizeseg ', e.g. 'evaluate --checkpoint FILE [options]'. */
  usage: readonly string[];
  /** What it does and writes, as lines (wrapped by the author at about 110 characters). */
  about: readonly string[];
  /**
   * Its options: flag (without dashes) → metavariable and help with the default, e.g.
   * `epochs: ['N', 'at most N epochs (default 100)']`. A flag given to a command that does not list it is
   * refused. Types come from FLAGS (options.ts); a flag only this command has declares it in `flagTypes`.
   */
  options: Readonly<Record<string, readonly [metavar: string, help: string]>>;
  /** Types of flags that only this command takes (not in FLAGS). */
  flagTypes?: Readonly<Record<string, FlagType>>;
  /** Runnable examples (without the leading 'sizeseg '). */
  examples: readonly string[];
  /** Whether words may follow the command (only 'data' takes them). */
  positionals?: boolean;
  /** Resolves to the exit status (130/143 for a run interrupted by SIGINT/SIGTERM), or nothing for 0. */
  // biome-ignore lint/suspicious/noConfusingVoidType: the commands are async functions that return a status or nothing.
  run(opts: Options, positionals: readonly string[]): Promise<number | void>;
}

/** The options of every command that trains or runs a network. */
export const BACKEND_OPTIONS = {
  backend: [
    'cpu|gpu',
    'where the network runs: cpu (WebAssembly SIMD kernels), or gpu (WebGPU) (default $SIZESEG_BACKEND, else cpu)',
  ],
  threads: ['N', 'CPU worker threads (default $SIZESEG_THREADS, else all cores, at most 2)'],
  quiet: ['', 'no progress output (results still go to stdout)'],
} as const satisfies Record<string, readonly [string, string]>;

/** The --data values, said once for every command that takes --data. */
export const DATA_SPECS =
  'synthetic (built-in generated images) | msd (the copy `sizeseg data download msd-task04` caches) | msd:DIR (a folder of the MSD Task04 NIfTI files) | prepared:DIR (images.f32, masks.u8, meta.json)';

const WIDTH = 110;

/** Words wrapped to lines of at most `width` characters after `indent`. */
function wrap(text: string, indent: number, width = WIDTH): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : `${' '.repeat(indent)}${l}`));
}

/** `sizeseg <command> --help`. */
export function commandHelp(command: Command): string {
  const out: string[] = [];
  command.usage.forEach((u, i) => out.push(`${i === 0 ? 'Usage: ' : '       '}sizeseg ${u}`));
  out.push('');
  command.about.forEach((paragraph, i) => out.push(...(i > 0 ? [''] : []), ...wrap(paragraph, 0)));
  const options: [string, string][] = [...Object.entries(command.options), ['help', ['', 'this help']] as const].map(
    ([flag, [metavar, help]]) => [`--${flag}${metavar ? ` ${metavar}` : ''}`, help],
  );
  const column = Math.min(24, Math.max(...options.map(([f]) => f.length)) + 2);
  out.push('', 'Options:');
  for (const [flag, help] of options) {
    const lines = wrap(help, 2 + column);
    out.push(
      flag.length + 2 > column
        ? `  ${flag}\n${' '.repeat(2 + column)}${lines.join('\n')}`
        : `  ${flag.padEnd(column)}${lines.join('\n')}`,
    );
  }
  if (command.examples.length > 0) {
    out.push('', 'Examples:');
    for (const e of command.examples) out.push(`  sizeseg ${e}`);
  }
  return `${out.join('\n')}\n`;
}

/** `sizeseg --help`: the commands and where to read more. */
export function globalHelp(commands: readonly Command[], version: string): string {
  const column = Math.max(...commands.map((c) => c.name.length)) + 2;
  return `sizeseg ${version} — learning to segment images from object sizes (Baručić & Kybic), from scratch in TypeScript

Usage: sizeseg <command> [options]
       sizeseg <command> --help     a command's options and their defaults (also: sizeseg help <command>)
       sizeseg --version

Commands:
${commands.map((c) => `  ${c.name.padEnd(column)}${wrap(c.summary, 2 + column).join('\n')}`).join('\n')}

Data (--data): ${wrap(DATA_SPECS, 15).join('\n')}.

Examples:
  sizeseg demo                                   # the method end to end on synthetic data, a few minutes
  sizeseg data download msd-task04 && sizeseg demo --data msd
  sizeseg pretrain --data msd --m 50 --name hippo-m50
  sizeseg sizetrain --checkpoint runs/hippo-m50/best.ckpt --name hippo-m50-size
  sizeseg evaluate --checkpoint runs/hippo-m50-size/best.ckpt     # on the data it was trained on
  sizeseg pretrain --resume runs/hippo-m50       # continue after Ctrl-C or a crash, from the last epoch
`;
}
