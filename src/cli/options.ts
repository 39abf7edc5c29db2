/**
 * Command-line options: one table of flags shared by every command, parsed with node:util's parseArgs,
 * validated into typed values with errors that name the flag and a valid example.
 */
import { parseArgs } from 'node:util';

export class UsageError extends Error {}

export type FlagType = 'string' | 'boolean';

/**
 * Every flag any command takes, with its type (the parser needs them all to find the command's words). What a
 * flag means, and its default, is said by each command's help (its `Command.options`, command.ts).
 */
export const FLAGS = {
  data: { type: 'string' },
  m: { type: 'string' },
  samples: { type: 'string' },
  estimator: { type: 'string' },
  epochs: { type: 'string' },
  patience: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  seed: { type: 'string' },
  widths: { type: 'string' },
  count: { type: 'string' },
  split: { type: 'string' },
  checkpoint: { type: 'string' },
  resume: { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  out: { type: 'string' },
  name: { type: 'string' },
  overwrite: { type: 'boolean' },
  from: { type: 'string' },
  md5: { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies Record<string, { type: FlagType; short?: string }>;

export type FlagName = keyof typeof FLAGS;

export interface ParsedArgs {
  command: string | undefined;
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

/** `extraTypes`: flags only some command has (`Command.flagTypes`), parsed like FLAGS. */
export function parseCommandLine(
  argv: readonly string[],
  extraTypes: Readonly<Record<string, FlagType>> = {},
): ParsedArgs {
  const table: Record<string, { type: FlagType; short?: string }> = { ...FLAGS };
  for (const [flag, type] of Object.entries(extraTypes)) table[flag] = { type };
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: table,
      allowPositionals: true,
      strict: true,
    });
    return { command: positionals[0], positionals: positionals.slice(1), values: values as ParsedArgs['values'] };
  } catch (err) {
    const command = argv[0] !== undefined && !argv[0].startsWith('-') ? argv[0] : undefined;
    throw new UsageError(
      `${(err as Error).message.replace(/\. To specify.*$/s, '')}. Run 'sizeseg ${command ? `${command} ` : ''}--help' for the list of options.`,
    );
  }
}

/**
 * Upper limits of the integer flags, checked where the flag is read: beyond them the arrays a run allocates
 * would not fit in memory (or the run would not end), which otherwise fails late with an unhelpful message.
 */
const INT_LIMITS: Record<string, number> = {
  count: 200_000,
  images: 10_000,
  m: 200_000,
  samples: 1000,
  epochs: 100_000,
  patience: 100_000,
  batch: 4096,
  seed: 2 ** 31 - 1,
  threads: 64,
};
const LIMIT_REASON: Record<string, string> = {
  images: 'one PNG holds them all',
  count: 'every image is held in memory; the hippocampus data has 6103',
  samples: 'each sample is a mask per image held in memory; the paper uses 1 to 10',
  epochs: 'early stopping (--patience) ends runs long before',
  patience: 'at most the number of epochs',
  batch: 'a batch is held in memory with its activations; e.g. --batch 32',
  seed: 'seeds are 31-bit integers',
  threads: 'one per core',
};
const MAX_LEVELS = 6;
const MAX_WIDTH = 1024;

export class Options {
  constructor(private readonly values: ParsedArgs['values']) {}

  string(flag: string, fallback: string): string {
    const v = this.values[flag];
    return typeof v === 'string' ? v : fallback;
  }

  optionalString(flag: string): string | undefined {
    const v = this.values[flag];
    return typeof v === 'string' ? v : undefined;
  }

  /** Whether the flag was given at all. */
  has(flag: string): boolean {
    return this.values[flag] !== undefined;
  }

  flag(flag: string): boolean {
    return this.values[flag] === true;
  }

  int(flag: string, fallback: number, min = 1): number {
    const raw = this.values[flag];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new UsageError(
        `--${flag} must be an integer ≥ ${min}, got '${String(raw)}' (e.g. --${flag} ${Math.max(min, fallback)}).`,
      );
    const max = INT_LIMITS[flag];
    if (max !== undefined && n > max)
      throw new UsageError(
        `--${flag} must be at most ${max}, got '${String(raw)}' (${LIMIT_REASON[flag] ?? 'larger values do not fit in memory'}).`,
      );
    return n;
  }

  number(flag: string, fallback: number): number {
    const raw = this.values[flag];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0)
      throw new UsageError(`--${flag} must be a positive number, got '${String(raw)}' (e.g. --${flag} ${fallback}).`);
    return n;
  }

  choice<T extends string>(flag: string, choices: readonly T[], fallback: T): T {
    const raw = this.values[flag];
    if (raw === undefined) return fallback;
    if (!choices.includes(raw as T))
      throw new UsageError(`--${flag} must be one of ${choices.join(', ')}, got '${String(raw)}'.`);
    return raw as T;
  }

  widths(fallback: readonly number[]): number[] {
    const raw = this.values.widths;
    if (raw === undefined) return [...fallback];
    const list = String(raw)
      .split(',')
      .map((s) => Number(s.trim()));
    if (list.length === 0 || list.some((w) => !Number.isInteger(w) || w < 1)) {
      throw new UsageError(
        `--widths must be a comma-separated list of positive integers, got '${String(raw)}' (e.g. --widths 16,32,64,128).`,
      );
    }
    if (list.length > MAX_LEVELS || list.some((w) => w > MAX_WIDTH)) {
      throw new UsageError(
        `--widths allows at most ${MAX_LEVELS} levels of at most ${MAX_WIDTH} channels, got '${String(raw)}' (the weights must fit in memory; e.g. --widths 16,32,64,128).`,
      );
    }
    return list;
  }

  required(flag: string, example: string): string {
    const v = this.values[flag];
    if (typeof v !== 'string' || v === '')
      throw new UsageError(`--${flag} is required here, e.g. --${flag} ${example}.`);
    return v;
  }
}
