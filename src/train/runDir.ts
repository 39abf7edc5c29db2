/**
 * A run folder, runs/<name>/: config.json, metrics.jsonl (one JSON line per epoch), checkpoints, and
 * pictures — learning curves (SVG) and a grid of images with ground-truth (green) and predicted (red)
 * outlines (PNG). Everything a person needs to look at a run afterwards.
 *
 * What earlier work is protected by (nothing a user did before is lost):
 *  - `RunDir.create` refuses a folder that already holds something, naming the ways out (`--resume` the run,
 *    another `--name`, or `--overwrite`, which replaces only a sizeseg run folder's own files);
 *  - a run holds `.lock` (its pid) while it writes: a second process on the same folder is refused with the
 *    holder's pid, and a lock whose process is gone (kill -9, power loss) is taken over;
 *  - the name cannot leave `--out` (no '/', not '.' or '..');
 *  - every file is written atomically or appended in whole lines (files.ts).
 */
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SegDataset } from '../data/index.js';
import { encodePng, renderImageGrid } from '../viz/png.js';
import { lineChartSvg } from '../viz/svg.js';
import type { EpochRecord } from './trainer.js';
import { thresholdLogits } from './metrics.js';
import {
  appendLine,
  isAlive,
  isTemporary,
  readCompleteLines,
  removeTemporaries,
  writeError,
  writeFileAtomic,
} from './files.js';

/** A refused run folder (exists, in use, bad name): a usage problem, with the fix in the message. */
export class RunFolderError extends Error {}

const LOCK = '.lock';

/** Files a run writes, the only ones `--overwrite` removes. */
const RUN_FILE = /^(config\.json|metrics\.jsonl|.*\.ckpt|.*\.svg|.*\.png)$/;

/** Why `name` cannot be a run folder inside --out, or null when it can. */
export function badRunName(name: string): string | null {
  if (!/^[\w.-]+$/.test(name))
    return "it may only contain letters, digits, '.', '_' and '-' (no '/': the folder stays inside --out)";
  if (/^\.+$/.test(name)) return "'.' and '..' name --out itself or its parent, not a run folder inside it";
  return null;
}

interface LockInfo {
  pid: number;
  command: string;
  started: string;
}

function readLock(path: string): LockInfo | null {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return Number.isInteger(info.pid) ? info : null;
  } catch {
    return null;
  }
}

/**
 * Take `dir/.lock` for this process, or refuse naming the process that holds it. The lock's content is
 * written to a temporary first and then hard-linked into place, which fails if the lock exists: the lock
 * file is never seen half written, and of two processes exactly one gets it.
 */
function acquireLock(dir: string, display: string, command: string): () => void {
  const lock = join(dir, LOCK);
  const tmp = join(dir, `${LOCK}.tmp-${process.pid}`);
  writeFileAtomic(tmp, JSON.stringify({ pid: process.pid, command, started: new Date().toISOString() }));
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, lock);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw writeError(lock, err);
        const holder = readLock(lock);
        if (holder && holder.pid !== process.pid && isAlive(holder.pid) && attempt === 0) {
          throw new RunFolderError(
            `run folder ${display} is in use by another sizeseg process (pid ${holder.pid}, '${holder.command}' since ${holder.started}); wait for it to finish, or use another --name. (If pid ${holder.pid} is not sizeseg, delete ${join(display, LOCK)}.)`,
          );
        }
        if (attempt > 0)
          throw new RunFolderError(
            `run folder ${display} was just taken by another sizeseg process (pid ${holder?.pid ?? '?'}); wait for it to finish, or use another --name.`,
          );
        rmSync(lock, { force: true }); // stale: its process is gone (kill -9, crash, reboot)
      }
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  const release = () => {
    if (readLock(lock)?.pid === process.pid) rmSync(lock, { force: true });
    process.off('exit', release);
  };
  process.on('exit', release); // also when the process ends through process.exit (a second Ctrl-C)
  return release;
}

/** What a folder holds, for the refusal message: the saved run's command and completed epochs. */
function describeRun(dir: string): { command: string | null; epochs: number; resumable: boolean } {
  let command: string | null = null;
  try {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { command?: unknown };
    if (typeof config.command === 'string') command = config.command;
  } catch {
    // no run config: not a run folder (or one whose config.json was never written)
  }
  const epochs = readCompleteLines(join(dir, 'metrics.jsonl')).filter((l) => l.includes('"trainLoss"')).length;
  return { command, epochs, resumable: existsSync(join(dir, 'last.ckpt')) };
}

export interface CreateRunOptions {
  /** The command writing the run (pretrain, sizetrain, predict, demo): stored in the lock, named in messages. */
  command: string;
  /** Replace an existing run folder's files (`--overwrite`). */
  overwrite?: boolean;
  /** Replace an existing run folder of the same command without --overwrite (the demo's runs/demo). */
  replaceSameCommand?: boolean;
}

export class RunDir {
  readonly path: string;
  private readonly records: EpochRecord[] = [];
  private releaseLock: (() => void) | null;

  private constructor(path: string, releaseLock: () => void) {
    this.path = path;
    this.releaseLock = releaseLock;
  }

  /**
   * A new run folder `root/name`, locked. A folder that holds anything (besides a stale lock and temporaries)
   * is refused, unless `overwrite` and it is a sizeseg run folder, whose run files are then removed.
   */
  static create(root: string, name: string, options: CreateRunOptions): RunDir {
    const bad = badRunName(name);
    if (bad !== null)
      throw new RunFolderError(`--name '${name}' cannot be a run folder: ${bad}; e.g. --name hippo-m50.`);
    const display = join(root, name);
    const path = resolve(root, name);
    const created = !existsSync(path);
    try {
      mkdirSync(path, { recursive: true });
    } catch (err) {
      throw writeError(path, err);
    }
    const unlock = acquireLock(path, display, options.command);
    // a run refused or failed before it wrote anything leaves no empty folder behind
    const release = () => {
      unlock();
      if (created && readdirSync(path).length === 0) rmSync(path, { recursive: true, force: true });
    };
    try {
      removeTemporaries(path);
      const present = readdirSync(path).filter((f) => f !== LOCK && !isTemporary(f));
      if (present.length > 0) {
        const run = describeRun(path);
        const replace = options.overwrite || (options.replaceSameCommand && run.command === options.command);
        if (run.command === null) {
          throw new RunFolderError(
            `${display} already exists and is not a sizeseg run folder (no config.json); pick another --name or --out.`,
          );
        }
        if (!replace) {
          const ways =
            run.resumable && (run.command === 'pretrain' || run.command === 'sizetrain')
              ? `continue it with 'sizeseg ${run.command} --resume ${display}', start a new run with another --name, or replace it with --overwrite`
              : `start a new run with another --name, or replace it with --overwrite`;
          const what =
            run.command === 'pretrain' || run.command === 'sizetrain'
              ? run.resumable
                ? `a ${run.command} run (${run.epochs} epoch${run.epochs === 1 ? '' : 's'} logged)`
                : `a ${run.command} run that stopped before its first epoch ended (nothing to resume)`
              : `a ${run.command} run`;
          throw new RunFolderError(`run folder ${display} already holds ${what}; ${ways}.`);
        }
        for (const f of present) if (RUN_FILE.test(f) && statSync(join(path, f)).isFile()) rmSync(join(path, f));
      }
    } catch (err) {
      release();
      throw err;
    }
    return new RunDir(path, release);
  }

  /** An existing run folder to continue (`--resume`), locked, with the temporaries of an interrupted write removed. */
  static resume(dir: string, command: string): RunDir {
    const path = resolve(dir);
    const release = acquireLock(path, dir, `${command} --resume`);
    removeTemporaries(path);
    return new RunDir(path, release);
  }

  /** Give the folder back (remove the lock). Also happens when the process exits. */
  release(): void {
    this.releaseLock?.();
    this.releaseLock = null;
  }

  file(name: string): string {
    return join(this.path, name);
  }

  writeConfig(config: Record<string, unknown>): void {
    writeFileAtomic(this.file('config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }

  logEpoch(record: EpochRecord): void {
    this.records.push(record);
    appendLine(this.file('metrics.jsonl'), JSON.stringify(record));
  }

  /**
   * Continue a run in this folder from a state saved after epoch `history.at(-1).epoch`: the curves get the
   * earlier epochs back, and `metrics.jsonl` loses the lines of epochs after it (an epoch that was logged
   * but not saved is trained again) and a line cut by the interruption, keeping every other line in order;
   * a saved epoch whose line was cut gets it back from the saved history. The rewrite is atomic: interrupted,
   * it leaves the old file.
   */
  resumeHistory(history: readonly EpochRecord[]): void {
    this.records.length = 0;
    this.records.push(...history);
    const path = this.file('metrics.jsonl');
    const saved = new Map(history.map((r) => [`${r.phase}:${r.epoch}`, true]));
    const phases = new Set(history.map((r) => r.phase));
    const logged = new Set<string>();
    const kept = readCompleteLines(path).filter((line) => {
      try {
        const r = JSON.parse(line) as Partial<EpochRecord>;
        if (r.trainLoss !== undefined) logged.add(`${r.phase}:${r.epoch}`);
        return !(r.trainLoss !== undefined && r.phase && phases.has(r.phase) && !saved.has(`${r.phase}:${r.epoch}`));
      } catch {
        return false; // not a whole record
      }
    });
    for (const r of history) if (!logged.has(`${r.phase}:${r.epoch}`)) kept.push(JSON.stringify(r));
    writeFileAtomic(path, kept.map((l) => `${l}\n`).join(''));
  }

  logEvent(event: Record<string, unknown>): void {
    appendLine(this.file('metrics.jsonl'), JSON.stringify(event));
  }

  /**
   * Learning curves: training loss and validation IoU / E per epoch, one chart per phase and metric. `lossLabel`
   * names a phase's training loss where it is not the phase's usual one (sizetrain --joint: BCE + λ·size).
   */
  writeCurves(lossLabel: Partial<Record<'pretrain' | 'sizetrain', string>> = {}): string[] {
    const written: string[] = [];
    for (const phase of ['pretrain', 'sizetrain'] as const) {
      const recs = this.records.filter((r) => r.phase === phase);
      if (recs.length === 0) continue;
      const x = recs.map((r) => r.epoch);
      const charts: [string, string, { name: string; x: number[]; y: number[] }[]][] = [
        [
          'loss',
          lossLabel[phase] ?? (phase === 'pretrain' ? 'BCE (train)' : 'size loss (train)'),
          [{ name: 'train loss', x, y: recs.map((r) => r.trainLoss) }],
        ],
        [
          'val',
          'validation',
          [
            { name: 'IoU', x, y: recs.map((r) => r.val.iou) },
            { name: 'Dice', x, y: recs.map((r) => r.val.dice) },
          ],
        ],
        ['size-error', 'validation E', [{ name: 'E = (g(y) − g(ŷ))²', x, y: recs.map((r) => r.val.sizeError) }]],
      ];
      for (const [key, yLabel, series] of charts) {
        const path = this.file(`${phase}-${key}.svg`);
        writeFileAtomic(path, lineChartSvg({ title: `${phase}: ${yLabel}`, xLabel: 'epoch', yLabel, series }));
        written.push(path);
      }
    }
    return written;
  }

  /** A PNG grid of the first `count` images with ground truth (green) and prediction (red) outlines. */
  writePredictions(name: string, ds: SegDataset, indices: readonly number[], logits: Float32Array, count = 16): string {
    const V = ds.height * ds.width;
    const pred = thresholdLogits(logits);
    const items = indices.slice(0, count).map((n, i) => ({
      image: ds.images.subarray(n * V, (n + 1) * V),
      truth: ds.masks.subarray(n * V, (n + 1) * V),
      pred: pred.subarray(i * V, (i + 1) * V),
    }));
    const path = this.file(name);
    const { rgba, width, height } = renderImageGrid(items, ds.height, ds.width, { cols: 8 });
    writeFileAtomic(path, encodePng(rgba, width, height));
    return path;
  }
}
