/**
 * Fig. 7 at the paper's scale (issue 15): `npm run experiment -- fig7 --preset paper`.
 *
 * The protocol (fixed here and recorded in the JSON): ResUNet-lite [16, 32, 64, 128], batch 32; the real slices
 * split **by volume** (meta.json's `split_by_volume`: neighbouring slices of one volume are nearly the same image,
 * so a split by slice puts near-copies of training images into the test set); the size-labelled set is the whole
 * training split. For every seed and m (nested annotated subsets per seed): supervised pre-training with flips
 * until validation IoU stops improving (an epoch repeats the m images up to a minimum number of images), then,
 * from that same pre-trained network, the arms
 *  - 'size':     the paper's size loss (Lemma 1, fast estimator, n = 1) on the training split, every m;
 *  - 'joint':    BCE on the m annotated + λ·size loss on the rest of the split, small m;
 *  - 'shuffled': the size loss with the split's sizes permuted among its images (a control), some m;
 * each until validation E stops improving, best weights (by that criterion) kept. Before and after: test IoU,
 * Dice, E and the foreground fraction of the thresholded prediction against the true one.
 *
 * Hours of work on 2 cores, so it survives interruption: under <out>/fig7-<preset>/runs/m<M>-s<seed>/ the
 * pre-training keeps `pretrain.last.ckpt` each epoch and leaves `pretrained.ckpt` + `pretrained.json`; each arm
 * keeps `<arm>.last.ckpt` each epoch (weights, Adam state, random streams, history) and leaves `<arm>.json`.
 * Every file is written to a temporary name and renamed. Running the same command again skips what is finished,
 * resumes what is not from its last epoch, and ends with the numbers of an uninterrupted run. The arm training with
 * resume, the folder's protocol check and the seeds table are shared with remedies.ts (resumableUnits.ts).
 */
import { closeSync, existsSync, mkdirSync, openSync, readSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Rng } from '../autograd/rng.js';
import type { Tensor } from '../autograd/tensor.js';
import { indicesOf, loadDataset, type Batch, type SegDataset } from '../data/index.js';
import { sizeLoss } from '../estimators/sizeLossOp.js';
import type { ResUNet } from '../models/resunet.js';
import { loadCheckpointInto, saveModelCheckpoint } from '../train/checkpoint.js';
import { MetricAccumulator, thresholdLogits, type SegMetrics } from '../train/metrics.js';
import { loadTrainState, saveTrainState } from '../train/resume.js';
import { evaluate, forwardToHost, predictLogits, pretrain, type TrainState } from '../train/trainer.js';
import { formatSeconds } from '../cli/progress.js';
import { lineChartSvg } from '../viz/svg.js';
import {
  annotatedSubset,
  backendRecord,
  codeVersion,
  cpuModel,
  dataSpecOf,
  fmtPct,
  machineInfo,
  mean,
  metricsRecord,
  type ExperimentContext,
  type StepResult,
  type MeanSe,
} from './common.js';
import { afterCheckpoint, jsonText, readJson, writeAtomic } from './runFiles.js';
import { fig7PaperReport, type Fig7PaperSummaryForReport } from './fig7paperReport.js';
import { bceStep, jointStep, sizeStep } from './objectives.js';
import {
  armFinishedLine,
  checkProtocolFile,
  completeSummary,
  jointObjective,
  leaveArm,
  seedTable,
  sessionNote,
  timeTrainSteps,
  trainArm,
  unitDirOf,
  unitModel,
  type ArmObjective,
  type ExperimentOutcome,
  type PhaseRecord,
  type SeedTableRow,
} from './resumableUnits.js';

export type Fig7Arm = 'size' | 'joint' | 'shuffled';
export const FIG7_ARMS: readonly Fig7Arm[] = ['size', 'joint', 'shuffled'];
export type Fig7ProtocolName = 'paper' | 'paper-smoke';

export interface Fig7Protocol {
  name: Fig7ProtocolName;
  /** What the protocol is, and where it departs from the paper, in words (printed and stored in the JSON). */
  notes: string[];
  widths: number[];
  batch: number;
  /** Seeded subsets of the splits (undefined: the whole split; the paper protocol uses whole splits). */
  pools: { train?: number; val?: number; test?: number };
  ms: (number | 'all')[];
  seeds: number;
  pretrain: { epochs: number; patience: number; lr: number; minImagesPerEpoch: number; flips: boolean };
  size: { epochs: number; patience: number; lr: number; samples: number; estimator: 'fast' };
  /** m values of the joint and shuffled arms (the size arm runs for every m). */
  arms: { joint: number[]; shuffled: number[] };
  /**
   * Further seeds of the size arm alone at some m (issue 23: 5 seeds where 3 left the gain inside its noise),
   * planned after every other run. Not part of the folder's fingerprint: adding them continues an existing folder.
   */
  extraSizeSeeds?: { seeds: number[]; ms: number[] };
  jointLambda: number;
  /** Epochs a phase is assumed to run (ETA guess until phases of that kind have finished and say otherwise). */
  expectedEpochs: { pretrain: number; arm: number };
  /** Timed steps per phase kind for the estimate (after one untimed warm-up step). */
  timingSteps: number;
}

export const FIG7_PROTOCOLS: Record<Fig7ProtocolName, Fig7Protocol> = {
  paper: {
    name: 'paper',
    notes: [
      'ResUNet-lite [16, 32, 64, 128], batch 32, Adam; all 6103 real slices split by volume (split_by_volume of meta.json: no patient in two splits); the size-labelled set is the whole training split',
      'pre-training: BCE with flips, lr 3e-3, an epoch repeats the m images up to ≥ 512 images, until validation IoU has not improved for 5 epochs (at most 40 epochs); best-IoU weights kept',
      'size training: Lemma 1, fast estimator, n = 1, lr 1e-4, until validation E has not improved for 3 epochs (at most 10 epochs); best-E weights kept',
      'arms from the same pre-trained network: size loss (every m), joint BCE + 1e-3·size on the rest of the split (m ∈ {10, 20, 50}), shuffled sizes (m ∈ {10, 50}); 3 seeds, nested annotated subsets per seed',
    ],
    widths: [16, 32, 64, 128],
    batch: 32,
    pools: {},
    ms: [10, 20, 50, 85, 200, 500, 'all'],
    seeds: 3,
    pretrain: { epochs: 40, patience: 5, lr: 3e-3, minImagesPerEpoch: 512, flips: true },
    size: { epochs: 10, patience: 3, lr: 1e-4, samples: 1, estimator: 'fast' },
    arms: { joint: [10, 20, 50], shuffled: [10, 50] },
    extraSizeSeeds: { seeds: [3, 4], ms: [20, 50, 85] },
    jointLambda: 1e-3,
    expectedEpochs: { pretrain: 15, arm: 6 },
    timingSteps: 3,
  },
  'paper-smoke': {
    name: 'paper-smoke',
    notes: [
      'the paper protocol in miniature for tests (tiny model, a few images, 2–3 epochs per phase, split by volume where the data has volumes); the numbers mean nothing',
    ],
    widths: [4, 8],
    batch: 8,
    pools: { train: 48, val: 16, test: 16 },
    ms: [10, 20, 'all'],
    seeds: 2,
    // patience above the epoch caps: every phase runs all its epochs, so a kill can land in the middle of each
    pretrain: { epochs: 3, patience: 5, lr: 1e-2, minImagesPerEpoch: 48, flips: true },
    size: { epochs: 2, patience: 5, lr: 1e-3, samples: 1, estimator: 'fast' },
    arms: { joint: [10], shuffled: [10] },
    jointLambda: 1e-3,
    expectedEpochs: { pretrain: 3, arm: 2 },
    timingSteps: 1,
  },
};

/** One (m, seed, arm) run of the plan. */
export interface RunKey {
  m: number | 'all';
  mLabel: string;
  seed: number;
  arm: Fig7Arm;
}

/** The runs in execution order: seed by seed (so a partial result already has whole curves), m ascending, arms. */
export function planRuns(p: Fig7Protocol, seeds = p.seeds): RunKey[] {
  const runs: RunKey[] = [];
  for (let seed = 0; seed < seeds; seed++) {
    for (const m of p.ms) {
      for (const arm of FIG7_ARMS) {
        if (arm === 'joint' && !(typeof m === 'number' && p.arms.joint.includes(m))) continue;
        if (arm === 'shuffled' && !(typeof m === 'number' && p.arms.shuffled.includes(m))) continue;
        runs.push({ m, mLabel: String(m), seed, arm });
      }
    }
  }
  for (const seed of p.extraSizeSeeds?.seeds ?? []) {
    if (seed < seeds) continue;
    for (const m of p.extraSizeSeeds!.ms) runs.push({ m, mLabel: String(m), seed, arm: 'size' });
  }
  return runs;
}

export interface VolumePools {
  ds: SegDataset;
  train: number[];
  val: number[];
  test: number[];
  /** What config.split of the JSON says. */
  split: Record<string, unknown>;
}

/** Load the data split by volume and check that no volume is in two splits (when the data has volumes). */
export async function loadVolumePools(ctx: ExperimentContext, p: Fig7Protocol): Promise<VolumePools> {
  const spec = dataSpecOf(ctx.dataSpec);
  const ds = await loadDataset(spec, {
    seed: 0,
    split: 'volume',
    ...(spec === 'synthetic' ? { count: ctx.syntheticCount ?? 150 } : {}),
  });
  const whole = { train: indicesOf(ds, 'train'), val: indicesOf(ds, 'val'), test: indicesOf(ds, 'test') };
  const rng = new Rng(20240601);
  const take = (idx: number[], n: number | undefined): number[] =>
    n === undefined || n >= idx.length
      ? idx
      : rng
          .shuffle([...idx])
          .slice(0, n)
          .sort((a, b) => a - b);
  const train = take(whole.train, p.pools.train);
  const val = take(whole.val, p.pools.val);
  const test = take(whole.test, p.pools.test);
  let volumes: Record<string, number> | null = null;
  let volumesInTwoSplits: number | null = null;
  if (ds.volumeId) {
    const sets = (['train', 'val', 'test'] as const).map((k) => new Set(whole[k].map((i) => ds.volumeId![i]!)));
    volumes = { train: sets[0]!.size, val: sets[1]!.size, test: sets[2]!.size };
    const seen = new Map<number, number>();
    for (const s of sets) for (const v of s) seen.set(v, (seen.get(v) ?? 0) + 1);
    volumesInTwoSplits = [...seen.values()].filter((c) => c > 1).length;
    if (volumesInTwoSplits > 0)
      throw new Error(
        `fig7 ${p.name}: ${volumesInTwoSplits} volumes have slices in two splits; the split by volume is broken in ${ds.source}.`,
      );
  }
  const split = {
    // generated data has no volumes: its loader falls back to a split by image (and says so in `source`)
    mode: ds.volumeId ? 'volume' : 'image (the data has no volumes)',
    why: 'neighbouring slices of one volume are nearly the same image; a split by slice would leak them from the training into the test set',
    source: ds.source,
    counts: { train: whole.train.length, val: whole.val.length, test: whole.test.length },
    volumes,
    volumesInTwoSplits,
    used: { train: train.length, val: val.length, test: test.length },
  };
  ctx.progress.line(
    `data: ${ds.source}; split by volume ${whole.train.length}/${whole.val.length}/${whole.test.length}` +
      (volumes
        ? ` (${volumes.train}/${volumes.val}/${volumes.test} volumes, none in two splits)`
        : ' (no volume ids: generated data)') +
      `; used ${train.length}/${val.length}/${test.length}`,
  );
  return { ds, train, val, test, split };
}

/** Test metrics plus the foreground fractions of the thresholded prediction and of the truth (all test pixels). */
export interface TestRecord {
  iou: number;
  dice: number;
  E: number;
  count: number;
  fgPred: number;
  fgTrue: number;
}

export async function testRecord(model: ResUNet, ds: SegDataset, indices: readonly number[]): Promise<TestRecord> {
  const V = ds.height * ds.width;
  const pred = thresholdLogits(await predictLogits(model, ds, indices, 32));
  const truth = new Uint8Array(indices.length * V);
  const sizes = new Float64Array(indices.length);
  indices.forEach((n, i) => {
    truth.set(ds.masks.subarray(n * V, (n + 1) * V), i * V);
    sizes[i] = ds.sizes[n] as number;
  });
  const acc = new MetricAccumulator();
  acc.add(truth, pred, sizes, ds.height, ds.width);
  const m: SegMetrics = acc.result();
  let fp = 0;
  let ft = 0;
  for (let i = 0; i < pred.length; i++) {
    fp += pred[i]!;
    ft += truth[i]!;
  }
  return {
    iou: m.iou,
    dice: m.dice,
    E: m.sizeError,
    count: m.count,
    fgPred: fp / Math.max(1, pred.length),
    fgTrue: ft / Math.max(1, truth.length),
  };
}

export interface PretrainedRecord {
  m: number;
  mLabel: string;
  seed: number;
  annotated: number;
  imagesPerEpoch: number;
  epochs: number;
  bestEpoch: number;
  seconds: number;
  val: ReturnType<typeof metricsRecord>;
  history: { epoch: number; trainLoss: number; val: ReturnType<typeof metricsRecord>; best: boolean }[];
  test: TestRecord;
}

export interface Fig7PaperRun {
  m: number;
  mLabel: string;
  seed: number;
  arm: Fig7Arm;
  annotated: number;
  /** Images the arm's phase trains on (the whole split; for 'joint', the split minus the annotated images). */
  trainImages: number;
  pretrain: { epochs: number; bestEpoch: number; seconds: number; val: ReturnType<typeof metricsRecord> };
  before: TestRecord;
  after: TestRecord;
  phase: PhaseRecord;
  /** Wall seconds of the arm's phase and its test evaluation (the shared pre-training is in `pretrain.seconds`). */
  seconds: number;
  finishedAt: string;
  /**
   * The commit and the CPU the run trained on. A resumed experiment may span commits and machines, and the
   * summary's `machine` is only its last writer's; runs written before 7 December 2026 lack both.
   */
  codeVersion?: string;
  cpuModel?: string;
}

/** Seconds per step of each phase kind and per evaluated image, measured on the real model (`measureTiming`). */
export interface Timing {
  bceStep: number;
  sizeStep: number;
  jointStep: number;
  evalPerImage: number;
}

/**
 * Epochs completed according to a phase checkpoint's header (0 when there is none or it is unreadable: the
 * header alone is read, so this is cheap enough for every ETA line).
 */
function savedEpoch(path: string): number {
  if (!existsSync(path)) return 0;
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const prefix = Buffer.alloc(12);
    if (readSync(fd, prefix, 0, 12, 0) < 12) return 0;
    const header = Buffer.alloc(prefix.readUInt32LE(8));
    readSync(fd, header, 0, header.length, 12);
    const epoch = (JSON.parse(header.toString('utf8')) as { epoch?: unknown }).epoch;
    return typeof epoch === 'number' ? epoch : 0;
  } catch {
    return 0;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Images per pre-training epoch: the annotated set repeated up to the minimum (as `pretrain` in trainer.ts does). */
function pretrainImages(p: Fig7Protocol, annotated: number): number {
  return annotated * Math.max(1, Math.ceil(p.pretrain.minImagesPerEpoch / Math.max(1, annotated)));
}

/** Steps of an epoch over n images (batchIterator; a last batch of one image is skipped). */
function stepsOf(n: number, batch: number): number {
  const s = Math.ceil(n / batch);
  return s > 1 && n % batch === 1 ? s - 1 : s;
}

export class Fig7PaperRunner {
  readonly dir: string;
  private readonly seeds: number;
  private readonly plan: RunKey[];
  private pools!: VolumePools;
  private timing!: Timing;
  /** Observed / predicted seconds over the epochs this process ran: calibrates the ETA. */
  private observed = 0;
  private predicted = 0;
  private readonly startedAt = performance.now();
  private readonly version = codeVersion();
  private readonly cpu = cpuModel();

  constructor(
    private readonly ctx: ExperimentContext,
    readonly protocol: Fig7Protocol,
  ) {
    this.seeds = ctx.seeds ?? protocol.seeds;
    this.plan = planRuns(protocol, this.seeds);
    this.dir = resolve(ctx.out, `fig7-${protocol.name}`);
  }

  private unitDir(key: { mLabel: string; seed: number }): string {
    return unitDirOf(this.dir, key);
  }
  private runFile(key: RunKey): string {
    return join(this.unitDir(key), `${key.arm}.json`);
  }
  private done(key: RunKey): boolean {
    return existsSync(this.runFile(key));
  }

  private mCount(m: number | 'all'): number {
    return m === 'all' ? this.pools.train.length : Math.min(m, this.pools.train.length);
  }

  private async setup(): Promise<void> {
    const p = this.protocol;
    this.ctx.progress.line(
      `fig7 (${p.name}): m ∈ {${p.ms.join(', ')}}, ${this.seeds} seeds, arms: size (every m), joint (m ∈ {${p.arms.joint.join(', ')}}), shuffled (m ∈ {${p.arms.shuffled.join(', ')}}); ${this.plan.length} runs; folder ${this.dir}`,
    );
    for (const note of p.notes) this.ctx.progress.line(`  protocol: ${note}`);
    this.pools = await loadVolumePools(this.ctx, p);
  }

  /** The protocol and data a run folder was started with: a later command must match it to continue there. */
  private fingerprint(): Record<string, unknown> {
    const {
      seeds: _s,
      notes: _n,
      expectedEpochs: _e,
      timingSteps: _t,
      extraSizeSeeds: _x,
      ...protocol
    } = this.protocol;
    return {
      protocol,
      split: this.pools.split['counts'],
      used: this.pools.split['used'],
      images: this.pools.ds.count,
      size: `${this.pools.ds.height}x${this.pools.ds.width}`,
      backend: this.ctx.backend ?? 'cpu',
    };
  }

  private checkFingerprint(write: boolean): void {
    checkProtocolFile(this.dir, this.fingerprint(), write);
  }

  private newModel(annotated: readonly number[], seed: number): ResUNet {
    return unitModel(this.pools.ds, this.protocol.widths, annotated, seed, this.ctx.backend ?? 'cpu');
  }

  /** A few steps of each phase kind on the real model and data, and one evaluation pass. */
  async measureTiming(): Promise<Timing> {
    const p = this.protocol;
    const { ds } = this.pools;
    const annotated = annotatedSubset(this.pools.train, 10, 0);
    const model = this.newModel(annotated, 0);
    const rng = new Rng(1);
    const steps = await timeTrainSteps(model, ds, {
      lr: p.size.lr,
      steps: p.timingSteps,
      batchAt: (k) =>
        Array.from(
          { length: Math.min(p.batch, this.pools.train.length) },
          (_, i) => this.pools.train[(k * p.batch + i) % this.pools.train.length]!,
        ),
      kinds: [
        ['bceStep', bceStep(model), p.pretrain.flips ? rng : null],
        ['sizeStep', sizeStep(model, rng, p.size.samples, p.size.estimator), null],
        ['jointStep', jointStep(model, ds, annotated, p.batch, rng, p.jointLambda), null],
      ],
    });
    const evalImages = this.pools.val.slice(0, Math.max(32, Math.min(this.pools.val.length, 4 * 32)));
    await evaluate(model, ds, evalImages.slice(0, 32));
    const t0 = performance.now();
    await evaluate(model, ds, evalImages);
    return {
      ...(steps as Omit<Timing, 'evalPerImage'>),
      evalPerImage: (performance.now() - t0) / 1000 / evalImages.length,
    };
  }

  /** Predicted seconds of one phase epoch (training steps + validation). */
  private epochSeconds(kind: 'pretrain' | Fig7Arm, m: number | 'all'): number {
    const p = this.protocol;
    const t = this.timing;
    const val = this.pools.val.length * t.evalPerImage;
    if (kind === 'pretrain') return stepsOf(pretrainImages(p, this.mCount(m)), p.batch) * t.bceStep + val;
    const n = kind === 'joint' ? this.pools.train.length - this.mCount(m) : this.pools.train.length;
    return stepsOf(n, p.batch) * (kind === 'joint' ? t.jointStep : t.sizeStep) + val;
  }

  /** Predicted seconds of a whole phase of `epochs` epochs, with its one-off evaluations. */
  private phaseSeconds(kind: 'pretrain' | Fig7Arm, m: number | 'all', epochs: number): number {
    const t = this.timing;
    const once =
      this.pools.test.length * t.evalPerImage + (kind === 'pretrain' ? 0 : this.pools.val.length * t.evalPerImage);
    return epochs * this.epochSeconds(kind, m) + once;
  }

  /** Epochs a phase kind is expected to take: the mean over finished phases of that kind, else the protocol's guess. */
  private expectedEpochs(kind: 'pretrain' | 'arm'): number {
    const p = this.protocol;
    const seen: number[] = [];
    for (const key of this.plan) {
      if (kind === 'pretrain') {
        const f = join(this.unitDir(key), 'pretrained.json');
        if (key.arm === 'size' && existsSync(f)) seen.push(readJson<PretrainedRecord>(f).epochs);
      } else if (this.done(key)) {
        seen.push(readJson<Fig7PaperRun>(this.runFile(key)).phase.epochs);
      }
    }
    const cap = kind === 'pretrain' ? p.pretrain.epochs : p.size.epochs;
    return Math.min(cap, seen.length ? mean(seen) : p.expectedEpochs[kind]);
  }

  /**
   * Seconds left for the runs not finished, `epochs(kind)` epochs per phase (never past the cap); a phase with a
   * checkpoint counts only the epochs after its saved one.
   */
  private remainingSeconds(epochs: (kind: 'pretrain' | 'arm') => number): number {
    const p = this.protocol;
    const left = (kind: 'pretrain' | 'arm', ckpt: string): number => {
      const cap = kind === 'pretrain' ? p.pretrain.epochs : p.size.epochs;
      const done = savedEpoch(ckpt);
      return done >= cap ? 0 : Math.max(1, Math.min(cap, epochs(kind)) - done);
    };
    let s = 0;
    for (const key of this.plan) {
      if (this.done(key)) continue;
      const dir = this.unitDir(key);
      if (key.arm === 'size' && !existsSync(join(dir, 'pretrained.json')))
        s += this.phaseSeconds('pretrain', key.m, left('pretrain', join(dir, 'pretrain.last.ckpt')));
      s += this.phaseSeconds(key.arm, key.m, left('arm', join(dir, `${key.arm}.last.ckpt`)));
    }
    return s;
  }

  private etaLine(key: RunKey, kind: 'pretrain' | Fig7Arm, epoch: number, cap: number, epochSeconds: number): string {
    this.observed += epochSeconds;
    this.predicted += this.epochSeconds(kind, key.m);
    const factor = this.predicted > 0 ? this.observed / this.predicted : 1;
    const left = factor * this.remainingSeconds((k) => this.expectedEpochs(k));
    const index = this.plan.findIndex((k) => k.mLabel === key.mLabel && k.seed === key.seed && k.arm === key.arm) + 1;
    const finished = this.plan.filter((k) => this.done(k)).length;
    return `[fig7 ${this.protocol.name}] run ${index}/${this.plan.length} (m = ${key.mLabel}, seed ${key.seed}, ${kind === 'pretrain' ? 'pre-training' : `${kind} arm`}) epoch ${epoch}/${cap} · ${finished} runs finished · ${sessionNote(this.startedAt)} · ETA of the experiment ${formatSeconds(left)}`;
  }

  /**
   * The pre-trained network of (m, seed) for another experiment (remedies.ts): pre-trained here first if the
   * folder does not hold it yet. Returns its checkpoint and record.
   */
  async pretrained(m: number | 'all', seed: number): Promise<{ ckpt: string; record: PretrainedRecord }> {
    if (!this.pools) {
      await this.setup();
      this.checkFingerprint(true);
    }
    const key: RunKey = { m, mLabel: String(m), seed, arm: 'size' };
    // the progress lines' ETA needs the step timings (only when there is pre-training to do)
    if (!this.timing && !existsSync(join(this.unitDir(key), 'pretrained.json')))
      this.timing = await this.measureTiming();
    const record = await this.pretrainUnit(key);
    return { ckpt: join(this.unitDir(key), 'pretrained.ckpt'), record };
  }

  /** Pre-training of (m, seed): resumed from `pretrain.last.ckpt` if there is one; leaves `pretrained.ckpt` + `.json`. */
  private async pretrainUnit(key: RunKey): Promise<PretrainedRecord> {
    const p = this.protocol;
    const dir = this.unitDir(key);
    const recordPath = join(dir, 'pretrained.json');
    if (existsSync(recordPath)) return readJson<PretrainedRecord>(recordPath);
    mkdirSync(dir, { recursive: true });
    const { ds } = this.pools;
    const annotated = annotatedSubset(this.pools.train, key.m, key.seed);
    const model = this.newModel(annotated, key.seed);
    const lastPath = join(dir, 'pretrain.last.ckpt');
    let resume: TrainState | undefined;
    if (existsSync(lastPath)) {
      resume = loadTrainState(lastPath, model).state;
      this.ctx.progress.line(
        `  m = ${key.mLabel}, seed ${key.seed}: resuming pre-training after epoch ${resume.epoch} (${lastPath})`,
      );
    } else {
      this.ctx.progress.line(
        `  m = ${key.mLabel}, seed ${key.seed}: pre-training on ${annotated.length} annotated images (${pretrainImages(p, annotated.length)} per epoch)`,
      );
    }
    const config = { model: 'ResUNet', widths: p.widths, m: key.mLabel, seed: key.seed };
    const label = `pretrain m=${key.mLabel} s${key.seed}`;
    const result = await pretrain(model, ds, {
      annotated,
      minImagesPerEpoch: p.pretrain.minImagesPerEpoch,
      valIndices: this.pools.val,
      epochs: p.pretrain.epochs,
      patience: p.pretrain.patience,
      batch: p.batch,
      lr: p.pretrain.lr,
      seed: key.seed,
      ...(resume ? { resume } : {}),
      onState: (state) => {
        saveTrainState(lastPath, model, state, config);
        afterCheckpoint();
      },
      observer: {
        onStep: ({ epoch, step, steps, loss }) => this.ctx.progress.step(`${label} epoch ${epoch}`, step, steps, loss),
        onEpoch: (r) => {
          this.ctx.progress.line(
            `  ${label} epoch ${r.epoch}: BCE ${r.trainLoss.toFixed(4)}  val IoU ${fmtPct(r.val.iou)}  E ${r.val.sizeError.toFixed(2)}${r.best ? '  *best' : ''}  (${r.seconds.toFixed(0)}s)`,
          );
          this.ctx.progress.line(this.etaLine(key, 'pretrain', r.epoch, p.pretrain.epochs, r.seconds));
        },
      },
    });
    // the model now holds the best-IoU weights (restored by `pretrain`)
    const test = await testRecord(model, ds, this.pools.test);
    await saveModelCheckpoint(join(dir, 'pretrained.ckpt'), model, {
      config,
      epoch: result.best?.epoch ?? 0,
      phase: 'pretrain',
      metrics: { testIou: test.iou },
    });
    const best = result.best!;
    const record: PretrainedRecord = {
      m: annotated.length,
      mLabel: key.mLabel,
      seed: key.seed,
      annotated: annotated.length,
      imagesPerEpoch: pretrainImages(p, annotated.length),
      epochs: result.history.length,
      bestEpoch: best.epoch,
      seconds: result.history.reduce((s, h) => s + h.seconds, 0),
      val: metricsRecord(best.val),
      history: result.history.map((h) => ({
        epoch: h.epoch,
        trainLoss: h.trainLoss,
        val: metricsRecord(h.val),
        best: h.best,
      })),
      test,
    };
    writeAtomic(recordPath, jsonText(record));
    rmSync(lastPath, { force: true });
    this.ctx.progress.line(
      `  pre-trained m = ${key.mLabel}, seed ${key.seed}: ${record.epochs} epochs (best ${record.bestEpoch}), test IoU ${fmtPct(test.iou)}  E ${test.E.toFixed(2)}  foreground ${fmtPct(test.fgPred)} (true ${fmtPct(test.fgTrue)})`,
    );
    return record;
  }

  /** One arm from the pre-trained network of its (m, seed): resumed from `<arm>.last.ckpt` if there is one. */
  private async armRun(key: RunKey, pre: PretrainedRecord): Promise<Fig7PaperRun> {
    const p = this.protocol;
    const dir = this.unitDir(key);
    const { ds } = this.pools;
    const annotated = annotatedSubset(this.pools.train, key.m, key.seed);
    const model = this.newModel(annotated, key.seed);
    loadCheckpointInto(join(dir, 'pretrained.ckpt'), model);
    const lastPath = join(dir, `${key.arm}.last.ckpt`);
    const label = `${key.arm} m=${key.mLabel} s${key.seed}`;
    const trained = await trainArm({
      label,
      model,
      ds,
      valIndices: this.pools.val,
      lastPath,
      seed: key.seed,
      batch: p.batch,
      phase: p.size,
      config: { model: 'ResUNet', widths: p.widths, m: key.mLabel, seed: key.seed, arm: key.arm },
      progress: this.ctx.progress,
      doing: `${key.arm} training`,
      objective: (sampler, saved) => this.armObjective(key, model, annotated, sampler, saved),
      epochLine: (state) => {
        const last = state.history[state.history.length - 1]!;
        return this.etaLine(key, key.arm, state.epoch, p.size.epochs, last.trainSeconds + last.valSeconds);
      },
    });
    const after = await testRecord(model, ds, this.pools.test);
    const run: Fig7PaperRun = {
      m: pre.m,
      mLabel: key.mLabel,
      seed: key.seed,
      arm: key.arm,
      annotated: annotated.length,
      trainImages: trained.trainIndices.length,
      pretrain: { epochs: pre.epochs, bestEpoch: pre.bestEpoch, seconds: pre.seconds, val: pre.val },
      before: pre.test,
      after,
      phase: trained.phase,
      seconds: trained.seconds(),
      finishedAt: new Date().toISOString(),
      codeVersion: this.version,
      cpuModel: this.cpu,
    };
    leaveArm(this.runFile(key), run, lastPath);
    this.ctx.progress.line(armFinishedLine(label, run.phase, pre.test, after));
    return run;
  }

  /** The objective of an arm (the estimator's samples from `sampler`, Fig. 7's size-phase stream). */
  private armObjective(
    key: RunKey,
    model: ResUNet,
    annotated: number[],
    sampler: Rng,
    saved: Record<string, unknown>,
  ): ArmObjective {
    const p = this.protocol;
    const { ds, train } = this.pools;
    if (key.arm === 'size') {
      return { step: sizeStep(model, sampler, p.size.samples, p.size.estimator), trainIndices: train };
    }
    if (key.arm === 'shuffled') {
      // the split's sizes permuted among its images, fixed per seed (control.ts does the same)
      const perm = new Rng(77 + key.seed).shuffle([...train]);
      const shuffled = new Map<number, number>(train.map((idx, i) => [idx, ds.sizes[perm[i]!] as number]));
      const step = async (b: Batch, x: Tensor): Promise<StepResult> => {
        const loss = sizeLoss(
          await forwardToHost(model, x),
          b.indices.map((i) => shuffled.get(i)!),
          { rng: sampler, samples: p.size.samples, method: p.size.estimator },
        );
        return { loss, parts: { size: loss.item() } };
      };
      return { step, trainIndices: train };
    }
    const annotatedSet = new Set(annotated);
    return {
      ...jointObjective(model, ds, annotated, p.batch, sampler, p.jointLambda, p.size.samples, saved),
      trainIndices: train.filter((i) => !annotatedSet.has(i)),
    };
  }

  /** The runs on disk. */
  private finishedRuns(): Fig7PaperRun[] {
    return this.plan.filter((k) => this.done(k)).map((k) => readJson<Fig7PaperRun>(this.runFile(k)));
  }

  private summaryPath(): string {
    return join(this.dir, `fig7-${this.protocol.name}.json`);
  }

  /** fig7-<preset>.json, its CSV and figure, from every finished run (rewritten after each run, so it grows). */
  private writeSummary(): Record<string, unknown> {
    const p = this.protocol;
    const runs = this.finishedRuns();
    const table = buildTable(runs, p.ms);
    const summary = {
      experiment: 'fig7',
      preset: p.name,
      presetNotes: p.notes,
      complete: runs.length === this.plan.length,
      runsDone: runs.length,
      runsTotal: this.plan.length,
      config: {
        ms: p.ms,
        seeds: this.seeds,
        widths: p.widths,
        batch: p.batch,
        pretrain: p.pretrain,
        size: p.size,
        estimator: p.size.estimator,
        samples: p.size.samples,
        arms: { size: p.ms, ...p.arms },
        jointLambda: p.jointLambda,
        shuffled: "the training split's sizes permuted among its images (seeded per seed: Rng(77 + seed))",
        split: this.pools.split,
      },
      data: this.pools.ds.source,
      machine: machineInfo(),
      backend: backendRecord(this.ctx),
      table,
      runs,
      seconds:
        runs.filter((r) => r.arm === 'size').reduce((s, r) => s + r.pretrain.seconds, 0) +
        runs.reduce((s, r) => s + r.seconds, 0),
    };
    writeAtomic(this.summaryPath(), jsonText(summary));
    for (const [name, text] of Object.entries(fig7PaperViews(summary))) writeAtomic(join(this.dir, name), text);
    const cell = (v: unknown): string => String(v);
    const cols = [
      'm',
      'mLabel',
      'seed',
      'arm',
      'pretrainEpochs',
      'phaseEpochs',
      'phaseBestEpoch',
      'iouBefore',
      'iouAfter',
      'diceBefore',
      'diceAfter',
      'EBefore',
      'EAfter',
      'fgBefore',
      'fgAfter',
      'fgTrue',
      'pretrainSeconds',
      'phaseSeconds',
    ];
    const rows = runs.map((r) =>
      [
        r.m,
        r.mLabel,
        r.seed,
        r.arm,
        r.pretrain.epochs,
        r.phase.epochs,
        r.phase.bestEpoch,
        r.before.iou,
        r.after.iou,
        r.before.dice,
        r.after.dice,
        r.before.E,
        r.after.E,
        r.before.fgPred,
        r.after.fgPred,
        r.after.fgTrue,
        r.pretrain.seconds,
        r.seconds,
      ]
        .map(cell)
        .join(','),
    );
    writeAtomic(join(this.dir, `fig7-${p.name}-runs.csv`), [cols.join(','), ...rows].join('\n') + '\n');
    return summary;
  }

  /** The plan with each run's state on disk, and the time estimate from a short timing. */
  async dryRun(): Promise<ExperimentOutcome> {
    await this.setup();
    if (existsSync(this.dir)) this.checkFingerprint(false);
    const p = this.protocol;
    const lines: string[] = [];
    const status = (key: RunKey): string => {
      if (this.done(key)) return 'finished';
      const last = join(this.unitDir(key), `${key.arm}.last.ckpt`);
      if (existsSync(last)) return `partial (${savedEpoch(last)} epochs done; resumes after them)`;
      return 'pending';
    };
    this.plan.forEach((key, i) => {
      const pre =
        key.arm === 'size'
          ? existsSync(join(this.unitDir(key), 'pretrained.json'))
            ? ' [pre-training finished]'
            : existsSync(join(this.unitDir(key), 'pretrain.last.ckpt'))
              ? ` [pre-training partial: ${savedEpoch(join(this.unitDir(key), 'pretrain.last.ckpt'))} epochs done]`
              : ' [+ pre-training]'
          : '';
      lines.push(
        `  ${String(i + 1).padStart(3)}. m = ${key.mLabel.padEnd(4)} seed ${key.seed}  ${key.arm.padEnd(8)} ${status(key)}${pre}`,
      );
    });
    this.ctx.progress.line(
      `runs (${this.plan.length}; size arm also pre-trains the network of its m and seed, which the other arms reuse):`,
    );
    for (const l of lines) this.ctx.progress.line(l);
    this.ctx.progress.line(
      `timing ${p.timingSteps} steps of each phase kind on the real model (after a warm-up step) …`,
    );
    const t0 = performance.now();
    this.timing = await this.measureTiming();
    const t = this.timing;
    this.ctx.progress.line(
      `  per step of ${p.batch}: BCE ${t.bceStep.toFixed(3)}s, size ${t.sizeStep.toFixed(3)}s, joint ${t.jointStep.toFixed(3)}s; evaluation ${(1000 * t.evalPerImage).toFixed(2)} ms/image (${((performance.now() - t0) / 1000).toFixed(0)}s to measure; load average ${machineInfo()['loadAverage']})`,
    );
    const kinds: Fig7Arm[] = ['size', 'joint', 'shuffled'];
    const e = (kind: 'pretrain' | Fig7Arm, m: number | 'all') => this.epochSeconds(kind, m);
    this.ctx.progress.line(
      `  one epoch: pre-training ${formatSeconds(e('pretrain', p.ms[0]!))} (m = ${p.ms[0]}) … ${formatSeconds(e('pretrain', 'all'))} (all); ${kinds.map((k) => `${k} ${formatSeconds(e(k, p.arms.joint[0] ?? 10))}`).join(', ')}`,
    );
    const upper = this.remainingSeconds((k) => (k === 'pretrain' ? p.pretrain.epochs : p.size.epochs));
    const expected = this.remainingSeconds((k) => this.expectedEpochs(k));
    const finished = this.plan.filter((k) => this.done(k)).length;
    this.ctx.progress.line(
      `estimate for the ${this.plan.length - finished} runs not finished: ${formatSeconds(expected)} expected (pre-training ${this.expectedEpochs('pretrain').toFixed(1)} epochs, arms ${this.expectedEpochs('arm').toFixed(1)} epochs), ${formatSeconds(upper)} at most (every phase to its cap: ${p.pretrain.epochs} and ${p.size.epochs} epochs)`,
    );
    // the timing shares the cores with whatever else runs: scale by cores / load for a rough idle-machine figure
    const load = loadavg()[0]!;
    const idle = Math.min(1, cpus().length / Math.max(1e-9, load));
    if (idle < 0.9) {
      this.ctx.progress.line(
        `  load average ${load.toFixed(1)} on ${cpus().length} cores while timing: with the cores to itself the run would take roughly ${formatSeconds(idle * expected)} expected, ${formatSeconds(idle * upper)} at most (scaled by cores / load; rough)`,
      );
    }
    this.ctx.progress.line(
      '  (timings on a shared machine are noisy; the progress lines of the real run recalibrate the ETA every epoch)',
    );
    return {
      dir: this.dir,
      files: [],
      summary: {
        dryRun: true,
        runs: this.plan.length,
        finished,
        timing: t,
        expectedSeconds: expected,
        upperBoundSeconds: upper,
        loadAverage: load,
      },
    };
  }

  /** Run (or continue) every unfinished run; with everything finished, do nothing and say so. */
  async run(): Promise<ExperimentOutcome> {
    await this.setup();
    if (existsSync(this.dir)) this.checkFingerprint(false);
    const pending = this.plan.filter((k) => !this.done(k));
    const finished = pending.length === 0 ? completeSummary(this.summaryPath()) : null;
    if (finished) {
      this.ctx.progress.line(
        `nothing to do: all ${this.plan.length} runs of fig7 ${this.protocol.name} are finished; results in ${this.summaryPath()}`,
      );
      return { dir: this.dir, files: [], summary: finished };
    }
    this.checkFingerprint(true);
    const files = [
      this.summaryPath(),
      ...fig7PaperViewNames(this.protocol.name).map((f) => join(this.dir, f)),
      join(this.dir, `fig7-${this.protocol.name}-runs.csv`),
    ];
    if (pending.length === 0) {
      this.ctx.progress.line('every run is finished; writing the summary');
      return { dir: this.dir, files, summary: this.writeSummary() };
    }
    this.ctx.progress.line(
      `${this.plan.length - pending.length} of ${this.plan.length} runs already finished; ${pending.length} to go`,
    );
    this.timing = await this.measureTiming();
    this.ctx.progress.line(
      `ETA of the experiment at the start: ${formatSeconds(this.remainingSeconds((k) => this.expectedEpochs(k)))} (a guess from a short timing; recalibrated every epoch)`,
    );
    let summary: Record<string, unknown> = {};
    for (const key of pending) {
      const index = this.plan.indexOf(key) + 1;
      this.ctx.progress.line(`[run ${index}/${this.plan.length}] m = ${key.mLabel}, seed ${key.seed}, ${key.arm} arm`);
      const pre = await this.pretrainUnit(key);
      await this.armRun(key, pre);
      summary = this.writeSummary();
    }
    const table = summary['table'] as TableRow[];
    for (const t of table)
      this.ctx.progress.line(
        `  ${t.arm.padEnd(8)} m = ${t.mLabel.padEnd(4)}: IoU ${fmtPct(t.iouBefore.mean)} → ${fmtPct(t.iouAfter.mean)} (gain ${(100 * t.iouGain.mean).toFixed(1)} ± ${(100 * t.iouGain.se).toFixed(1)} pt), foreground ${fmtPct(t.fgBefore.mean)} → ${fmtPct(t.fgAfter.mean)} (true ${fmtPct(t.fgTrue.mean)})`,
      );
    this.ctx.progress.line(
      `fig7 ${this.protocol.name}: all ${this.plan.length} runs finished; wrote ${files.join(', ')}`,
    );
    return { dir: this.dir, files, summary };
  }
}

export type TableRow = SeedTableRow<Fig7Arm> & { pretrainEpochs: MeanSe; phaseEpochs: MeanSe };

/** One entry per m and arm (fig7.json's `table` format, with `arm` and the further columns). */
export function buildTable(runs: readonly Fig7PaperRun[], ms: readonly (number | 'all')[]): TableRow[] {
  return seedTable(runs, FIG7_ARMS, ms, (col) => ({
    pretrainEpochs: col((r) => r.pretrain.epochs),
    phaseEpochs: col((r) => r.phase.epochs),
  }));
}

/** The files plotFig7Paper writes for a preset. */
function fig7PaperFigureNames(preset: string): string[] {
  return [`fig7-${preset}.svg`, `fig7-${preset}-foreground.svg`];
}

/** The files drawn from the summary JSON alone (figures and tables): written with every run and by `--replot`. */
export function fig7PaperViewNames(preset: string): string[] {
  return [...fig7PaperFigureNames(preset), `fig7-${preset}-report.md`];
}

/** Those files' contents, by name. */
export function fig7PaperViews(
  summary: Parameters<typeof plotFig7Paper>[0] & Fig7PaperSummaryForReport,
): Record<string, string> {
  return { ...plotFig7Paper(summary), [fig7PaperViewNames(summary.preset)[2]!]: fig7PaperReport(summary) };
}

type PlotRow = {
  arm: string;
  m: number;
  iouBefore: MeanSe;
  iouAfter: MeanSe;
  fgBefore: MeanSe;
  fgAfter: MeanSe;
  fgTrue: MeanSe;
  /** Seeds behind the row's means (the extra size-arm seeds make some rows have more than the protocol's). */
  seeds?: number;
};

/**
 * The figures: test IoU (fig7-<preset>.svg) and the foreground fraction of the thresholded prediction
 * (fig7-<preset>-foreground.svg, with the true fraction dashed), after pre-training and after each arm, per m
 * (mean ± s.e.; points offset a little in x so that the error bars do not overlap). The second shows whether
 * an arm changes IoU by changing how large the masks are.
 */
export function plotFig7Paper(summary: {
  preset: string;
  config: { seeds: number };
  runsDone?: number;
  runsTotal?: number;
  table: PlotRow[];
}): Record<string, string> {
  const t = summary.table;
  const before = t.filter((r) => r.arm === 'size');
  const offsets: Record<string, number> = { size: 1.03, joint: 1.07, shuffled: 1.11 };
  const names: Record<string, string> = {
    size: 'after size training',
    joint: 'after joint BCE + size',
    shuffled: 'after shuffled sizes (control)',
  };
  const seriesOf = (value: (r: PlotRow) => MeanSe, valueBefore: (r: PlotRow) => MeanSe) => [
    {
      name: 'after pre-training',
      x: before.map((r) => r.m / 1.03),
      y: before.map((r) => valueBefore(r).mean),
      yErr: before.map((r) => valueBefore(r).se),
    },
    ...FIG7_ARMS.map((arm) => t.filter((r) => r.arm === arm))
      .filter((rs) => rs.length > 0)
      .map((rs) => ({
        name: names[rs[0]!.arm]!,
        x: rs.map((r) => r.m * offsets[r.arm]!),
        y: rs.map((r) => value(r).mean),
        yErr: rs.map((r) => value(r).se),
      })),
  ];
  const partial =
    summary.runsDone !== undefined && summary.runsDone !== summary.runsTotal
      ? `, partial: ${summary.runsDone}/${summary.runsTotal} runs`
      : '';
  const xLabel = 'm = pixel-annotated images for pre-training (log scale)';
  const truth = {
    name: 'true foreground (test split)',
    x: before.map((r) => r.m),
    y: before.map((r) => r.fgTrue.mean),
    color: '#7f7f7f',
    dashed: true,
  };
  // an empty table (nothing finished) keeps the protocol's count, as the title always gave
  const seedCounts = t.length > 0 ? t.map((r) => r.seeds ?? summary.config.seeds) : [summary.config.seeds];
  const [fewest, most] = [Math.min(...seedCounts), Math.max(...seedCounts)];
  const seedsLabel = fewest === most ? `${most} seeds` : `${fewest}–${most} seeds`;
  return {
    [fig7PaperFigureNames(summary.preset)[0]!]: lineChartSvg({
      title: `Fig. 7 at paper scale: test IoU before / after (${summary.preset}, ${seedsLabel}${partial})`,
      width: 760,
      xLabel,
      yLabel: 'test IoU (mean ± s.e.)',
      logX: true,
      series: seriesOf(
        (r) => r.iouAfter,
        (r) => r.iouBefore,
      ),
    }),
    [fig7PaperFigureNames(summary.preset)[1]!]: lineChartSvg({
      title: `Predicted foreground fraction (thresholded) before / after (${summary.preset}${partial})`,
      width: 760,
      xLabel,
      yLabel: 'foreground fraction of the test images (mean ± s.e.)',
      logX: true,
      series: [
        ...seriesOf(
          (r) => r.fgAfter,
          (r) => r.fgBefore,
        ),
        truth,
      ],
    }),
  };
}

export function runFig7Paper(
  ctx: ExperimentContext,
  protocol: Fig7Protocol,
  options: { dryRun?: boolean } = {},
): Promise<ExperimentOutcome> {
  const runner = new Fig7PaperRunner(ctx, protocol);
  return options.dryRun ? runner.dryRun() : runner.run();
}
