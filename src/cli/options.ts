/**
 * Command-line options: one table of flags shared by every command, parsed with node:util's parseArgs,
 * validated into typed values with errors that name the flag and a valid example.
 */
import { parseArgs } from 'node:util';

export class UsageError extends Error {}

export const FLAGS = {
  data: { type: 'string', help: "dataset: synthetic | prepared:DIR | msd:DIR | msd (the downloaded copy) (default synthetic)" },
  m: { type: 'string', help: 'number of pixel-annotated images for pre-training (default 20)' },
  samples: { type: 'string', help: 'Lemma-1 derivative samples per image, n (default 1)' },
  estimator: { type: 'string', help: "fast | naive (identical numbers; default fast)" },
  epochs: { type: 'string', help: 'maximum epochs (early stopping may end sooner)' },
  patience: { type: 'string', help: 'epochs without validation improvement before stopping (default 5)' },
  batch: { type: 'string', help: 'batch size (default 32)' },
  lr: { type: 'string', help: 'Adam learning rate' },
  seed: { type: 'string', help: 'seed for data, initialisation and sampling (default 0)' },
  widths: { type: 'string', help: 'channels per U-Net level, e.g. 16,32,64,128 (ResUNet-lite)' },
  count: { type: 'string', help: 'number of images to load/generate (a seeded subset)' },
  split: { type: 'string', help: 'train | val | test (evaluate/predict; default test)' },
  checkpoint: { type: 'string', help: 'a .ckpt file written by pretrain/sizetrain' },
  onnx: { type: 'string', help: 'export: the .onnx file to write' },
  size: { type: 'string', help: 'export: the input images\' HEIGHTxWIDTH, as trained (default 48x32, the size of sizeseg\'s data)' },
  resume: { type: 'string', help: 'continue an interrupted pretrain/sizetrain run from its folder (runs/<name>/last.ckpt)' },
  backend: { type: 'string', help: 'cpu | gpu (default $SIZESEG_BACKEND or cpu)' },
  threads: { type: 'string', help: 'CPU worker threads (default: all cores, at most 2)' },
  out: { type: 'string', help: 'root folder for run folders (default runs)' },
  name: { type: 'string', help: 'run folder name (default <command>-<date>); an existing run folder is refused' },
  overwrite: { type: 'boolean', help: 'replace the run files of an existing run folder --name (instead of --resume)' },
  from: { type: 'string', help: 'data download: another mirror (URL) or an archive already on disk (FILE)' },
  md5: { type: 'string', help: 'data download: the expected MD5 instead of the published one (for repackaged mirrors)' },
  quiet: { type: 'boolean', help: 'no progress output' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
} as const;

export type FlagName = keyof typeof FLAGS;

export interface ParsedArgs {
  command: string | undefined;
  positionals: string[];
  values: Partial<Record<FlagName, string | boolean>>;
}

export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: Object.fromEntries(Object.entries(FLAGS).map(([k, v]) => [k, { type: v.type, ...('short' in v ? { short: v.short } : {}) }])),
      allowPositionals: true,
      strict: true,
    });
    return { command: positionals[0], positionals: positionals.slice(1), values: values as ParsedArgs['values'] };
  } catch (err) {
    throw new UsageError(`${(err as Error).message.replace(/\. To specify.*$/s, '')}. Run 'sizeseg --help' for the list of options.`);
  }
}

/**
 * Upper limits of the integer flags, checked where the flag is read: beyond them the arrays a run allocates
 * would not fit in memory (or the run would not end), which otherwise fails late with an unhelpful message.
 */
const INT_LIMITS: Partial<Record<FlagName, number>> = {
  count: 200_000, m: 200_000, samples: 1000, epochs: 100_000, patience: 100_000, batch: 4096, seed: 2 ** 31 - 1, threads: 64,
};
const LIMIT_REASON: Partial<Record<FlagName, string>> = {
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

  string(flag: FlagName, fallback: string): string {
    const v = this.values[flag];
    return typeof v === 'string' ? v : fallback;
  }

  optionalString(flag: FlagName): string | undefined {
    const v = this.values[flag];
    return typeof v === 'string' ? v : undefined;
  }

  flag(flag: FlagName): boolean {
    return this.values[flag] === true;
  }

  int(flag: FlagName, fallback: number, min = 1): number {
    const raw = this.values[flag];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer ≥ ${min}, got '${String(raw)}' (e.g. --${flag} ${Math.max(min, fallback)}).`);
    const max = INT_LIMITS[flag];
    if (max !== undefined && n > max) throw new UsageError(`--${flag} must be at most ${max}, got '${String(raw)}' (${LIMIT_REASON[flag] ?? 'larger values do not fit in memory'}).`);
    return n;
  }

  number(flag: FlagName, fallback: number): number {
    const raw = this.values[flag];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag} must be a positive number, got '${String(raw)}' (e.g. --${flag} ${fallback}).`);
    return n;
  }

  choice<T extends string>(flag: FlagName, choices: readonly T[], fallback: T): T {
    const raw = this.values[flag];
    if (raw === undefined) return fallback;
    if (!choices.includes(raw as T)) throw new UsageError(`--${flag} must be one of ${choices.join(', ')}, got '${String(raw)}'.`);
    return raw as T;
  }

  widths(fallback: readonly number[]): number[] {
    const raw = this.values.widths;
    if (raw === undefined) return [...fallback];
    const list = String(raw).split(',').map((s) => Number(s.trim()));
    if (list.length === 0 || list.some((w) => !Number.isInteger(w) || w < 1)) {
      throw new UsageError(`--widths must be a comma-separated list of positive integers, got '${String(raw)}' (e.g. --widths 16,32,64,128).`);
    }
    if (list.length > MAX_LEVELS || list.some((w) => w > MAX_WIDTH)) {
      throw new UsageError(`--widths allows at most ${MAX_LEVELS} levels of at most ${MAX_WIDTH} channels, got '${String(raw)}' (the weights must fit in memory; e.g. --widths 16,32,64,128).`);
    }
    return list;
  }

  required(flag: FlagName, example: string): string {
    const v = this.values[flag];
    if (typeof v !== 'string' || v === '') throw new UsageError(`--${flag} is required here, e.g. --${flag} ${example}.`);
    return v;
  }
}

export function helpText(): string {
  const flags = Object.entries(FLAGS).map(([k, v]) => `  --${k.padEnd(11)} ${v.help}`).join('\n');
  return `sizeseg — learning to segment from object sizes (Baručić & Kybic), from scratch in TypeScript

Usage: sizeseg <command> [options]

Commands:
  demo        the whole method on built-in synthetic data: pre-train on a few annotated images,
              then train on object sizes only; prints IoU and E before and after (what npm start runs)
  pretrain    supervised pre-training (BCE) on --m annotated images; writes runs/<name>/best.ckpt
              (and last.ckpt after every epoch, which --resume continues from)
  sizetrain   size training from --checkpoint on the training split's object sizes
  evaluate    E, IoU and Dice of --checkpoint on --split
  predict     PNG grid of predictions of --checkpoint on --split (green: truth, red: prediction)
  export      --checkpoint as an ONNX file (--onnx OUT.onnx) for onnxruntime (docs/deploy.md)
  info        versions, backend, adapter, threads and registered kernels (and --data, if given)
  data download msd-task04
              fetch the Decathlon Task04 hippocampus archive, check its MD5, unpack it into the cache
              ($SIZESEG_HOME, else $XDG_CACHE_HOME/sizeseg, else ~/.cache/sizeseg); then --data msd loads it.
              Resumes an interrupted download; gives up after $SIZESEG_HTTP_TIMEOUT s without data (default 30)
  data list   what the cache holds, with sizes
  data path msd-task04
              the cached folder (for scripts)

Options:
${flags}

Examples:
  sizeseg demo
  sizeseg data download msd-task04 && sizeseg demo --data msd
  sizeseg pretrain --data prepared:../shared/data/hippocampus --m 50 --name hippo-m50
  sizeseg sizetrain --data prepared:../shared/data/hippocampus --checkpoint runs/hippo-m50/best.ckpt
  sizeseg evaluate --data prepared:../shared/data/hippocampus --checkpoint runs/hippo-m50-size/best.ckpt
  sizeseg pretrain --resume runs/hippo-m50            # continue after Ctrl-C or a crash, from the last epoch
`;
}
