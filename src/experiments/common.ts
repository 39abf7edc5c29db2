/**
 * Shared machinery of the paper's experiments (`npm run experiment -- NAME`): presets, data pools, the machine
 * description, statistics, CSV/JSON output, model snapshots, and one training loop for every phase that is not
 * plain supervised pre-training.
 *
 * The loop (`runPhase`) uses the same building blocks as `src/train/trainer.ts` (Adam, shuffled batches from
 * `batchIterator`, `evaluate`, best-weights restore, the "drop a last batch of one image" rule) but
 *  - takes an arbitrary step objective (size loss, joint BCE + size, size + area, other estimators),
 *  - times the training part of an epoch separately from validation (Fig. 5 needs the pure epoch time),
 *  - records the mean of every named loss term per epoch,
 *  - can hand its state to `onState` after every epoch and continue from such a state (`resume`): the fig7
 *    paper protocol (fig7paper.ts) checkpoints its phases with it.
 *
 * Backends: with `ctx.backend = 'gpu'` the networks live on the device (`model.to('gpu')`), as in the trainer:
 * step objectives get their logits through `forwardToHost` (inputs uploaded, the network and its backward on
 * the device, one read-back of the logits per forward, losses on the host), Adam steps on the device, and
 * snapshots are host copies. On 'cpu' every one of these is the identity, so the numbers are bit for bit
 * those of the host-only loop.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../train/files.js';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, type RngState } from '../autograd/rng.js';
import { Tensor } from '../autograd/tensor.js';
import { trainStep } from '../train/step.js';
import { backendInstance } from '../backend.js';
import { batchIterator, indicesOf, loadDataset, type Batch, type SegDataset } from '../data/index.js';
import { getNumThreads } from '../kernels/engine.js';
import type { Module } from '../models/module.js';
import { Adam, type AdamState } from '../models/optim.js';
import { evaluate, hostWeights, pretrain } from '../train/trainer.js';
import { ResUNet } from '../models/resunet.js';
import { foregroundPriorLogit } from '../train/metrics.js';
import type { SegMetrics } from '../train/metrics.js';
import type { Progress } from '../cli/progress.js';

export type PresetName = 'smoke' | 'quick' | 'paper';

export interface Preset {
  name: PresetName;
  /** What the preset changes with respect to the paper's protocol, in words (printed and stored in the JSON). */
  notes: string[];
  widths: number[];
  batch: number;
  /** Size-labelled training pool: at most this many training images (undefined: the whole training split). */
  trainPool?: number;
  /** At most this many validation / test images (undefined: the whole split). */
  valCount?: number;
  testCount?: number;
  pretrain: { epochs: number; patience: number; lr: number; minImagesPerEpoch: number };
  size: { epochs: number; patience: number; lr: number };
  fig5: {
    m: number;
    ns: number[];
    timingImages?: number;
    timingEpochs: number;
    qualityImages?: number;
    qualityEpochs: number;
  };
  fig7: { ms: (number | 'all')[]; seeds: number };
  beyond: {
    ms: number[];
    seeds: number;
    /** Weight of the size loss in the joint objective BCE + λ·size. */
    jointLambda: number;
    /** Weight of the area-matching term λ·|Σσ(a) − k·s²| added to the size loss. */
    areaLambda: number;
    /** Derivative samples per image for the estimator comparison (REINFORCE's leave-one-out baseline needs ≥ 2). */
    estimatorSamples: number;
    /** m of the one pre-trained network the estimators are compared on (must be in `ms`). */
    estimatorM: number;
  };
}

const QUICK_NOTES = [
  'model ResUNet widths [8, 16, 32] instead of ResUNet-lite [16, 32, 64, 128]',
  'data: real hippocampus slices, split by slice 70/10/20 as in the paper, but a seeded pool of 480 training images (size labels), 120 validation and 300 test images',
  'pre-training: at most 12 epochs of ≥ 160 images, patience 3 on validation IoU (paper: until convergence)',
  'size training: at most 3 epochs over the pool, patience 3 on validation E, lr 3e-4 (paper: until E stops improving)',
  'fig5: epoch times on 128 images (1 warm-up + 3 timed rounds, methods interleaved); fig6: 6 fixed epochs over the 480-image pool per n',
  'fig7: m ∈ {10, 20, 50, 85, 200, all}, 3 seeds — "all" is the whole 480-image pool, which stands in for the paper\'s 500 and all; beyond: m ∈ {20, 85}, 3 seeds, estimators with n = 4 on m = 85 seed 0',
];

export const PRESETS: Record<PresetName, Preset> = {
  smoke: {
    name: 'smoke',
    notes: ['smoke test only: tiny model, 1 epoch, a few images; the numbers mean nothing'],
    widths: [2, 4],
    batch: 8,
    trainPool: 48,
    valCount: 16,
    testCount: 16,
    pretrain: { epochs: 1, patience: 1, lr: 3e-3, minImagesPerEpoch: 16 },
    size: { epochs: 1, patience: 1, lr: 3e-4 },
    fig5: { m: 10, ns: [1, 2], timingImages: 16, timingEpochs: 2, qualityImages: 16, qualityEpochs: 1 },
    fig7: { ms: [10, 'all'], seeds: 2 },
    beyond: { ms: [10], seeds: 1, jointLambda: 1e-3, areaLambda: 0.1, estimatorSamples: 2, estimatorM: 10 },
  },
  quick: {
    name: 'quick',
    notes: QUICK_NOTES,
    widths: [8, 16, 32],
    batch: 16,
    trainPool: 480,
    valCount: 120,
    testCount: 300,
    pretrain: { epochs: 12, patience: 3, lr: 3e-3, minImagesPerEpoch: 160 },
    size: { epochs: 3, patience: 3, lr: 3e-4 },
    fig5: { m: 85, ns: [1, 2, 4, 8], timingImages: 128, timingEpochs: 3, qualityImages: 480, qualityEpochs: 6 },
    fig7: { ms: [10, 20, 50, 85, 200, 'all'], seeds: 3 },
    beyond: { ms: [20, 85], seeds: 3, jointLambda: 1e-3, areaLambda: 0.5, estimatorSamples: 4, estimatorM: 85 },
  },
  paper: {
    name: 'paper',
    notes: [
      "the paper's protocol: ResUNet-lite, all 6103 slices split by slice 70/10/20, training until validation stops improving",
    ],
    widths: [16, 32, 64, 128],
    batch: 32,
    pretrain: { epochs: 100, patience: 10, lr: 3e-3, minImagesPerEpoch: 160 },
    size: { epochs: 50, patience: 5, lr: 1e-4 },
    fig5: { m: 85, ns: [1, 2, 4, 8], timingEpochs: 3, qualityEpochs: 40 },
    fig7: { ms: [10, 20, 50, 85, 200, 500, 'all'], seeds: 3 },
    beyond: { ms: [20, 85], seeds: 3, jointLambda: 1e-3, areaLambda: 0.5, estimatorSamples: 4, estimatorM: 85 },
  },
};

export interface ExperimentContext {
  preset: Preset;
  /** Dataset spec as given (`prepared:DIR`, a bare folder, or `synthetic`). */
  dataSpec: string;
  /** Number of seeds (fig7, beyond); overrides the preset's. */
  seeds?: number;
  /** Root folder of the outputs; the run goes to <out>/<experiment>-<preset>/. */
  out: string;
  progress: Progress;
  /** Images to generate when the data is synthetic (tests). */
  syntheticCount?: number;
  /**
   * Where the networks train: 'cpu' (default) or a device backend's name ('gpu'), which the caller has
   * initialised with `await setBackend(name)`.
   */
  backend?: string;
}

/** The backend of a run and what it is (mode, adapter), for the JSON: timings only mean something with it. */
export function backendRecord(ctx: ExperimentContext): Record<string, unknown> {
  const name = ctx.backend ?? 'cpu';
  const info = backendInstance(name).info();
  // a device backend's info() also lists every kernel and its counters; keep what identifies the device
  return name === 'cpu'
    ? { name, kernels: info.kernels }
    : { name, engine: info.engine, mode: info.mode, adapter: info.adapter ?? null };
}

/** The repository's root folder (the committed results live under it). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The commit the code runs from (`+dirty` when tracked files differ from it); 'unknown' outside a git checkout. */
export function codeVersion(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** The CPU's model name, as the OS reports it ('unknown' where it reports none). */
export function cpuModel(): string {
  return cpus()[0]?.model ?? 'unknown';
}

/** The machine, its load and the code version: stored in every JSON so that numbers and timings can be read in context. */
export function machineInfo(): Record<string, unknown> {
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpuModel: cpuModel(),
    cores: cpus().length,
    kernelThreads: getNumThreads(),
    loadAverage: loadavg().map((v) => Math.round(v * 100) / 100),
    time: new Date().toISOString(),
    // numbers move when kernels change their rounding: every JSON says which code made it
    codeVersion: codeVersion(),
  };
}

export interface Pools {
  ds: SegDataset;
  /** Size-labelled training pool (the "whole training split" of the run). */
  train: number[];
  val: number[];
  test: number[];
  description: string;
}

/** Normalise `--data`: a bare folder means `prepared:FOLDER`; `msd` is the downloaded copy. */
export function dataSpecOf(spec: string): string {
  if (spec === 'synthetic' || spec === 'msd' || spec.startsWith('prepared:') || spec.startsWith('msd:')) return spec;
  return `prepared:${spec}`;
}

/**
 * Load the data (split by slice, as in the paper) and take the preset's seeded pools. The pools depend on the
 * preset only, never on the run seed, so every seed and every m sees the same training, validation and test images.
 */
export async function loadPools(ctx: ExperimentContext): Promise<Pools> {
  const spec = dataSpecOf(ctx.dataSpec);
  const ds = await loadDataset(spec, {
    seed: 0,
    split: 'slice',
    ...(spec === 'synthetic' ? { count: ctx.syntheticCount ?? 150 } : {}),
  });
  const rng = new Rng(20240601);
  const take = (idx: number[], n: number | undefined): number[] =>
    n === undefined || n >= idx.length
      ? idx
      : rng
          .shuffle([...idx])
          .slice(0, n)
          .sort((a, b) => a - b);
  const train = take(indicesOf(ds, 'train'), ctx.preset.trainPool);
  const val = take(indicesOf(ds, 'val'), ctx.preset.valCount);
  const test = take(indicesOf(ds, 'test'), ctx.preset.testCount);
  const description = `${ds.source}; pools: ${train.length} train (size-labelled), ${val.length} val, ${test.length} test`;
  ctx.progress.line(`data: ${description}`);
  return { ds, train, val, test, description };
}

/** `m` annotated images from the pool: the first m of a seeded permutation (so the sets are nested in m). */
export function annotatedSubset(pool: readonly number[], m: number | 'all', seed: number): number[] {
  if (m === 'all' || m >= pool.length) return [...pool];
  const perm = new Rng(1000 + seed).shuffle([...pool]);
  return perm.slice(0, m).sort((a, b) => a - b);
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((s, v) => s + v, 0) / xs.length;
}

/** Standard error of the mean (sample s.d. / √n); 0 for a single value. */
export function stdErr(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  const v = xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
  return Math.sqrt(v / xs.length);
}

/** A table cell over seeds: the mean of a quantity and its standard error. */
export interface MeanSe {
  mean: number;
  se: number;
}

/** The mean and standard error of `f` over runs: `const col = columnOver(runs); col((r) => r.after.iou)`. */
export function columnOver<R>(runs: readonly R[]): (f: (r: R) => number) => MeanSe {
  return (f) => {
    const xs = runs.map(f);
    return { mean: mean(xs), se: stdErr(xs) };
  };
}

/** Host copies of a model's weights and buffers, in `stateDict()` order. */
export type Snapshot = Float32Array[];

/** A snapshot of the model, wherever it lives (a device model's values are read back: asynchronous). */
export function snapshot(model: Module): Promise<Snapshot> {
  return hostWeights(model);
}

/**
 * Put a snapshot back into the model's own tensors (so optimisers and callers holding them see it): host
 * storage is overwritten in place; a device tensor gets the values uploaded as its new version, which
 * kernels queued later read (earlier ones keep the old one).
 */
export function restore(model: Module, snap: Snapshot): void {
  [...model.stateDict().values()].forEach((t, i) => {
    if (t.device) t.device.assign(t.device.upload(snap[i]!));
    else t.storage.set(snap[i]!, t.offset);
  });
}

/** A run folder: <out>/<experiment>-<preset>/. */
export class ExperimentDir {
  readonly path: string;
  readonly written: string[] = [];
  constructor(out: string, experiment: string, preset: string) {
    this.path = resolve(out, `${experiment}-${preset}`);
    mkdirSync(this.path, { recursive: true });
  }
  write(name: string, text: string): string {
    const p = join(this.path, name);
    writeFileAtomic(p, text); // a killed experiment leaves the previous file whole
    this.written.push(p);
    return p;
  }
  json(name: string, value: unknown): string {
    return this.write(
      name,
      `${JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2)}\n`,
    );
  }
  csv(name: string, rows: Record<string, string | number | boolean>[]): string {
    const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const cell = (v: unknown): string =>
      v === undefined ? '' : typeof v === 'string' && /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : String(v);
    return this.write(
      name,
      [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c])).join(','))].join('\n') + '\n',
    );
  }
}

export interface StepResult {
  /** The scalar to back-propagate. */
  loss: Tensor;
  /** Named terms for the record (e.g. { bce, size }); `loss` is always recorded as `loss`. */
  parts?: Record<string, number>;
}

export type StepFn = (b: Batch, x: Tensor) => Promise<StepResult>;

export interface PhaseEpoch {
  epoch: number;
  /** Seconds of the training steps of the epoch (no validation). */
  trainSeconds: number;
  valSeconds: number;
  steps: number;
  images: number;
  /** Mean over steps of `loss` and of every named part. */
  losses: Record<string, number>;
  val: SegMetrics | null;
  best: boolean;
}

export interface PhaseOptions {
  label: string;
  model: Module;
  ds: SegDataset;
  trainIndices: readonly number[];
  /** Empty: no validation (timing runs); then nothing is selected or restored. */
  valIndices: readonly number[];
  epochs: number;
  /** Stop after this many epochs without improvement (Infinity: run all epochs). */
  patience: number;
  batch: number;
  lr: number;
  seed: number;
  flips: boolean;
  /** One step's loss from a batch and its images `x` (a host tensor; objectives upload it with `forwardToHost`). */
  step: StepFn;
  /** Higher is better. */
  score: (m: SegMetrics) => number;
  /** Restore the best-validation weights at the end (default true). */
  restoreBest?: boolean;
  progress?: Progress;
  /**
   * Further random streams of the step (the estimator's sampler, the joint objective's annotated batches):
   * their states are saved with every `onState`, so that a resumed phase continues them exactly.
   */
  streams?: Record<string, { getState(): unknown }>;
  /**
   * Called after every completed epoch with everything needed to continue the phase later (the fig7 paper
   * protocol writes it to a checkpoint). Awaited before the next epoch starts.
   */
  onState?: (state: PhaseState) => void | Promise<void>;
  /**
   * Continue a phase from a state `onState` produced: the model gets its weights, Adam its moments, the
   * batch and flip streams their states; the caller builds `step` on streams restored from `state.streams`.
   * The continuation makes exactly the updates of the uninterrupted phase.
   */
  resume?: PhaseState;
}

/** A phase between two epochs (see `PhaseOptions.onState`). */
export interface PhaseState {
  /** Epochs completed. */
  epoch: number;
  history: PhaseEpoch[];
  best: PhaseEpoch | null;
  sinceBest: number;
  start: SegMetrics | null;
  /** Current weights and buffers, and those of the best epoch so far (host copies, `stateDict()` order). */
  weights: Float32Array[];
  bestState: Float32Array[] | null;
  optimizer: AdamState;
  rngs: { batches: RngState; flips: RngState };
  streams: Record<string, unknown>;
}

export interface PhaseResult {
  history: PhaseEpoch[];
  best: PhaseEpoch | null;
  /** Validation metrics before the first step (epoch 0), when there is validation. */
  start: SegMetrics | null;
}

/** Epochs of shuffled batches with Adam; see the module comment. */
export async function runPhase(o: PhaseOptions): Promise<PhaseResult> {
  if (o.trainIndices.length === 0) throw new Error(`${o.label}: no training images.`);
  const resume = o.resume;
  if (resume) restore(o.model, resume.weights);
  const rng = resume ? Rng.fromState(resume.rngs.batches) : new Rng(o.seed);
  const flipRng = resume ? Rng.fromState(resume.rngs.flips) : rng.fork();
  const optimizer = new Adam(o.model.parameters(), { lr: o.lr });
  if (resume) optimizer.loadStateDict(resume.optimizer);
  const H = o.ds.height;
  const W = o.ds.width;
  const validate = o.valIndices.length > 0;
  const start = resume
    ? resume.start
    : validate
      ? await evaluate(o.model, o.ds, o.valIndices, Math.max(o.batch, 32))
      : null;
  const history: PhaseEpoch[] = resume ? [...resume.history] : [];
  let best: PhaseEpoch | null = resume?.best ?? null;
  // as in trainer.ts: the best epoch is chosen among epochs ≥ 1 (epoch 0, the starting network, is only recorded)
  let bestScore = best?.val ? o.score(best.val) : -Infinity;
  let bestState: Snapshot | null = resume?.bestState ?? null;
  let sinceBest = resume?.sinceBest ?? 0;
  const steps = Math.ceil(o.trainIndices.length / o.batch);
  for (let epoch = (resume?.epoch ?? 0) + 1; epoch <= o.epochs; epoch++) {
    // a resumed phase whose last saved epoch had already exhausted the patience
    if (validate && sinceBest >= o.patience) break;
    o.model.train();
    const sums: Record<string, number> = {};
    let step = 0;
    let images = 0;
    const t0 = performance.now();
    for (const b of batchIterator(o.ds, o.trainIndices, o.batch, rng, o.flips ? { flip: flipRng } : {})) {
      if (b.batch < 2 && steps > 1) continue;
      const x = new Tensor(b.images, [b.batch, 1, H, W]);
      const { loss: value, parts } = await trainStep(
        optimizer,
        () => o.step(b, x),
        (v) => new Error(`${o.label}: the loss became ${v} at epoch ${epoch}, step ${step + 1}.`),
      );
      sums['loss'] = (sums['loss'] ?? 0) + value;
      for (const [k, v] of Object.entries(parts ?? {})) sums[k] = (sums[k] ?? 0) + v;
      step++;
      images += b.batch;
      o.progress?.step(`${o.label} epoch ${epoch}`, step, steps, value);
    }
    // A device step returns once its kernels are queued (only the logits are read), so the last step's backward
    // and Adam update may still be running: wait for every weight before stopping the clock (Fig. 5 times epochs).
    if (o.model.backend !== 'cpu') await o.model.hostStateDict();
    const trainSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const val = validate ? await evaluate(o.model, o.ds, o.valIndices, Math.max(o.batch, 32)) : null;
    const valSeconds = (performance.now() - t1) / 1000;
    const improved = val !== null && o.score(val) > bestScore;
    const losses = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(1, step)]));
    const rec: PhaseEpoch = { epoch, trainSeconds, valSeconds, steps: step, images, losses, val, best: improved };
    history.push(rec);
    if (improved && val) {
      bestScore = o.score(val);
      best = rec;
      bestState = await snapshot(o.model);
      sinceBest = 0;
    } else {
      sinceBest++;
    }
    o.progress?.line(
      `  ${o.label} epoch ${epoch}: loss ${losses['loss']!.toFixed(4)}  train ${trainSeconds.toFixed(1)}s` +
        (val
          ? `  val IoU ${(100 * val.iou).toFixed(1)}%  E ${val.sizeError.toFixed(2)}${improved ? '  *best' : ''}`
          : ''),
    );
    if (o.onState) {
      await o.onState({
        epoch,
        history: [...history],
        best,
        sinceBest,
        start,
        weights: await snapshot(o.model),
        bestState,
        optimizer: await optimizer.hostStateDict(),
        rngs: { batches: rng.getState(), flips: flipRng.getState() },
        streams: Object.fromEntries(Object.entries(o.streams ?? {}).map(([k, s]) => [k, s.getState()])),
      });
    }
    if (validate && sinceBest >= o.patience) break;
  }
  if (validate && bestState && (o.restoreBest ?? true)) restore(o.model, bestState);
  return { history, best, start };
}

/** IoU and E as plain numbers for records. */
export function metricsRecord(m: SegMetrics): { iou: number; dice: number; E: number; count: number } {
  return { iou: m.iou, dice: m.dice, E: m.sizeError, count: m.count };
}

export function fmtPct(v: number): string {
  return `${(100 * v).toFixed(1)}%`;
}

export interface Pretrained {
  model: ResUNet;
  annotated: number[];
  epochs: number;
  bestEpoch: number;
  seconds: number;
  val: SegMetrics;
  snap: Snapshot;
}

/**
 * Supervised pre-training on `m` annotated images of the pool with `pretrain` of src/train/trainer.ts (BCE, random
 * flips, until validation IoU stops improving, best weights restored).
 */
export async function pretrainNetwork(
  ctx: ExperimentContext,
  pools: Pools,
  m: number | 'all',
  seed: number,
  label: string,
): Promise<Pretrained> {
  const { ds } = pools;
  const p = ctx.preset;
  const annotated = annotatedSubset(pools.train, m, seed);
  // built on the host (the same initial weights on every backend), then moved to the run's backend in place
  const model = new ResUNet({
    widths: p.widths,
    rng: new Rng(seed),
    headBias: foregroundPriorLogit(ds.masks, annotated, ds.height * ds.width),
  }).to(ctx.backend ?? 'cpu');
  const t0 = performance.now();
  const result = await pretrain(model, ds, {
    annotated,
    minImagesPerEpoch: p.pretrain.minImagesPerEpoch,
    valIndices: pools.val,
    epochs: p.pretrain.epochs,
    patience: p.pretrain.patience,
    batch: p.batch,
    lr: p.pretrain.lr,
    seed,
    observer: {
      onStep: ({ epoch, step, steps, loss }) => ctx.progress.step(`${label} epoch ${epoch}`, step, steps, loss),
      onEpoch: (r) =>
        ctx.progress.line(
          `  ${label} epoch ${r.epoch}: BCE ${r.trainLoss.toFixed(4)}  val IoU ${fmtPct(r.val.iou)}  E ${r.val.sizeError.toFixed(2)}${r.best ? '  *best' : ''}`,
        ),
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const val = result.best?.val ?? (await evaluate(model, ds, pools.val));
  return {
    model,
    annotated,
    epochs: result.history.length,
    bestEpoch: result.best?.epoch ?? 0,
    seconds,
    val,
    snap: await snapshot(model),
  };
}
