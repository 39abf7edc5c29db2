/**
 * Remedies for size training at large m (issue 23): `npm run experiment -- remedies --preset paper`.
 *
 * Same protocol as `fig7 --preset paper` (fig7paper.ts: ResUNet-lite, split by volume, the same test split, the
 * size phase's lr, epochs, patience and best-E epoch), starting from fig7's pre-trained networks
 * (<out>/fig7-<preset>/runs/m<M>-s<seed>/pretrained.ckpt; for the paper preset the committed folder
 * docs/figures/results/fig7-paper is copied there when <out> has none, so nothing is pre-trained again).
 * For every m and seed, from the same pre-trained network, the trained arms
 *  - 'size':   the paper's size loss, exactly fig7's size arm (same sampler stream), with its network kept;
 *  - 'anchor': the size loss + μ·BCE(σ(a), p₀) towards the pre-trained network's own test-time probabilities p₀
 *              on the same images (ours: the size label constrains only the largest inscribed square, so every
 *              other pixel is held where pre-training put it; μ = 1/λ of the joint objective, i.e. the same
 *              balance of a size term and a pixel BCE, fixed before any run);
 *  - 'joint':  BCE on the m annotated images + λ·size loss on the rest of the split (the whole split at m = all);
 * each until validation E stops improving, best-E weights kept (sizes only). Then, without training, the
 * post-hoc arms '<network>+threshold': the decision threshold chosen on the validation split by size error E
 * (thresholdChoice.ts: validation logits and sizes only) applied to that network, for the pre-trained network
 * and each trained one.
 *
 * Resumable like fig7 paper, with the same arm training (resumableUnits.ts): under <out>/remedies-<preset>/runs/m<M>-s<seed>/ each trained arm keeps
 * `<arm>.last.ckpt` each epoch and leaves `<arm>.ckpt` (its network) + `<arm>.json`; each post-hoc arm leaves
 * `<arm>+threshold.json`. Files are written atomically; running the command again skips what is finished and
 * continues what is not. After the remedies, the paper preset runs fig7's extra size-arm seeds
 * (`extraSizeSeeds`) in <out>/fig7-paper, so that they land in fig7-paper.json.
 */
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { bceWithLogits } from '../autograd/ops/loss.js';
import { Rng } from '../autograd/rng.js';
import { Tensor } from '../autograd/tensor.js';
import type { Batch, SegDataset } from '../data/index.js';
import { sizeLoss } from '../estimators/sizeLossOp.js';
import type { ResUNet } from '../models/resunet.js';
import { loadCheckpointInto, saveModelCheckpoint } from '../train/checkpoint.js';
import { forwardToHost, predictLogits } from '../train/trainer.js';
import { formatSeconds } from '../cli/progress.js';
import {
  annotatedSubset,
  backendRecord,
  codeVersion,
  fmtPct,
  machineInfo,
  mean,
  repoRoot,
  type ExperimentContext,
  type StepFn,
  type StepResult,
  type MeanSe,
} from './common.js';
import {
  FIG7_PROTOCOLS,
  Fig7PaperRunner,
  loadVolumePools,
  testRecord,
  type Fig7Protocol,
  type PretrainedRecord,
  type TestRecord,
  type VolumePools,
} from './fig7paper.js';
import { jointStep, sizeStep } from './objectives.js';
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
import {
  THRESHOLD_GRID,
  chooseThreshold,
  thresholdCurve,
  type CurvePoint,
  type ThresholdChoice,
} from './thresholdChoice.js';
import { remediesViews, remediesViewNames } from './remediesReport.js';
import { jsonText, readJson, writeAtomic } from './runFiles.js';

export type TrainedArm = 'size' | 'anchor' | 'joint';
export const TRAINED_ARMS: readonly TrainedArm[] = ['size', 'anchor', 'joint'];
/** Every arm of the table: the trained ones, and the threshold chosen on validation sizes for each network. */
export type RemedyArm = TrainedArm | `${TrainedArm | 'pretrained'}+threshold`;
export const REMEDY_ARMS: readonly RemedyArm[] = [
  'size',
  'size+threshold',
  'anchor',
  'anchor+threshold',
  'joint',
  'joint+threshold',
  'pretrained+threshold',
];
export type RemediesProtocolName = 'paper' | 'paper-smoke';

export interface RemediesProtocol {
  name: RemediesProtocolName;
  notes: string[];
  /** The fig7 protocol whose data, model, pre-trained networks and size phase this one shares. */
  fig7: Fig7Protocol;
  /** m values in the order they run within a seed (most informative first). */
  ms: (number | 'all')[];
  seeds: number;
  trained: TrainedArm[];
  jointLambda: number;
  /** μ of the anchor arm: size + μ·BCE(σ(a), p₀). */
  anchorWeight: number;
  thresholds: readonly number[];
  /** Epochs an arm is assumed to run until arms have finished (ETA). */
  expectedEpochs: number;
  timingSteps: number;
}

export const REMEDIES_PROTOCOLS: Record<RemediesProtocolName, RemediesProtocol> = {
  paper: {
    name: 'paper',
    notes: [
      'fig7 paper protocol (ResUNet-lite, split by volume, the same test split; size phases: lr 1e-4, until validation E has not improved for 3 epochs, at most 10, best-E weights), from the committed pre-trained networks',
      "arms: size (the paper's; fig7's size arm re-run with its network kept), anchor (size + 1000·BCE towards the pre-trained network's probabilities), joint (BCE on the m + 1e-3·size on the rest; the whole split at m = all); each network also with the threshold chosen by validation E (sizes only) on σ ∈ {0.05, …, 0.95}",
      "choices use validation sizes and the m annotated images only: the epoch (validation E), the threshold (validation E); λ = 1e-3 and μ = 1/λ are fixed (the fig7 protocol's λ), not tuned",
      "then fig7's extra seeds 3 and 4 of the size arm at m ∈ {20, 50, 85} (with their pre-training) in <out>/fig7-paper",
    ],
    fig7: FIG7_PROTOCOLS.paper,
    ms: [200, 'all', 10, 50],
    seeds: 3,
    trained: ['size', 'anchor', 'joint'],
    jointLambda: 1e-3,
    anchorWeight: 1e3,
    thresholds: THRESHOLD_GRID,
    expectedEpochs: 9,
    timingSteps: 3,
  },
  'paper-smoke': {
    name: 'paper-smoke',
    notes: [
      'the remedies protocol in miniature for tests (fig7 paper-smoke: tiny model, a few images, 2 epochs per phase); the numbers mean nothing',
    ],
    fig7: FIG7_PROTOCOLS['paper-smoke'],
    ms: ['all', 10],
    seeds: 1,
    trained: ['size', 'anchor', 'joint'],
    jointLambda: 1e-3,
    anchorWeight: 1e3,
    thresholds: THRESHOLD_GRID,
    expectedEpochs: 2,
    timingSteps: 1,
  },
};

/** One trained arm of the plan (its post-hoc threshold arm, and the pre-trained network's, come with it). */
export interface UnitKey {
  m: number | 'all';
  mLabel: string;
  seed: number;
  arm: TrainedArm;
}

/** Seed by seed (a partial result has whole seeds), m in the protocol's order, the trained arms in order. */
export function planUnits(p: RemediesProtocol, seeds = p.seeds): UnitKey[] {
  const out: UnitKey[] = [];
  for (let seed = 0; seed < seeds; seed++)
    for (const m of p.ms) for (const arm of p.trained) out.push({ m, mLabel: String(m), seed, arm });
  return out;
}

/** What a threshold arm records about its choice (validation sizes only) and, for analysis, the test curve. */
export interface ThresholdRecord extends ThresholdChoice {
  /** Test IoU, Dice, E and foreground at every grid threshold: for the record only, never used to choose. */
  testCurve: CurvePoint[];
}

export interface RemedyRun {
  m: number;
  mLabel: string;
  seed: number;
  arm: RemedyArm;
  annotated: number;
  /** Images the trained phase used (0 for a post-hoc arm). */
  trainImages: number;
  before: TestRecord;
  after: TestRecord;
  /** The trained phase (a threshold arm repeats its network's; null for the pre-trained network's). */
  phase: PhaseRecord | null;
  threshold: ThresholdRecord | null;
  /** The network the arm evaluated (a file of the unit folder, or the pre-trained network's place). */
  network: string;
  codeVersion: string;
  seconds: number;
  finishedAt: string;
}

/** Logits of a model for images, and their target sizes, in index order. */
async function logitsAndSizes(
  model: ResUNet,
  ds: SegDataset,
  indices: readonly number[],
): Promise<{ logits: Float32Array; sizes: Float64Array; truth: Uint8Array }> {
  const V = ds.height * ds.width;
  const logits = await predictLogits(model, ds, indices, 32);
  const sizes = new Float64Array(indices.length);
  const truth = new Uint8Array(indices.length * V);
  indices.forEach((n, i) => {
    sizes[i] = ds.sizes[n] as number;
    truth.set(ds.masks.subarray(n * V, (n + 1) * V), i * V);
  });
  return { logits, sizes, truth };
}

/**
 * The threshold arm of a network: the threshold chosen on the validation logits and sizes, the test metrics at
 * it (`after`), and the test curve over the grid for the record. Validation masks are never read.
 */
export async function thresholdArm(
  model: ResUNet,
  ds: SegDataset,
  val: readonly number[],
  test: readonly number[],
  grid: readonly number[],
): Promise<{ after: TestRecord; threshold: ThresholdRecord }> {
  const V = ds.height * ds.width;
  const valLogits = await predictLogits(model, ds, val, 32);
  const valSizes = Float64Array.from(val, (n) => ds.sizes[n] as number);
  const choice = chooseThreshold(valLogits, valSizes, ds.height, ds.width, grid);
  const t = await logitsAndSizes(model, ds, test);
  const curve = thresholdCurve(t.logits, t.truth, t.sizes, ds.height, ds.width, grid);
  const at = thresholdCurve(t.logits, t.truth, t.sizes, ds.height, ds.width, [choice.t])[0]!;
  let ft = 0;
  for (let i = 0; i < t.truth.length; i++) ft += t.truth[i]!;
  return {
    after: {
      iou: at.iou,
      dice: at.dice,
      E: at.E,
      count: test.length,
      fgPred: at.fg,
      fgTrue: ft / Math.max(1, test.length * V),
    },
    threshold: { ...choice, testCurve: curve },
  };
}

/**
 * The anchor objective: the Lemma-1 size loss + μ·mean BCE(σ(a), p₀), p₀ the pre-trained network's probabilities
 * of the same images (eval mode: what is evaluated at test time), looked up by image index.
 */
export function anchorStep(
  model: ResUNet,
  rng: Rng,
  samples: number,
  mu: number,
  targets: Map<number, Float32Array>,
): StepFn {
  return async (b: Batch, x: Tensor): Promise<StepResult> => {
    const logits = await forwardToHost(model, x);
    const size = sizeLoss(logits, b.sizes, { rng, samples, method: 'fast' });
    const V = b.height * b.width;
    const p0 = new Float32Array(b.batch * V);
    b.indices.forEach((n, i) => p0.set(targets.get(n)!, i * V));
    const anchor = bceWithLogits(logits, new Tensor(p0, [b.batch, 1, b.height, b.width]));
    return { loss: size.add(anchor.mul(mu)), parts: { size: size.item(), anchor: anchor.item() } };
  };
}

export class RemediesRunner {
  readonly dir: string;
  readonly fig7Dir: string;
  private readonly seeds: number;
  private readonly plan: UnitKey[];
  private pools!: VolumePools;
  private fig7!: Fig7PaperRunner;
  private readonly version = codeVersion();
  private readonly startedAt = performance.now();
  /** Wall seconds of the units this process finished (ETA). */
  private unitSeconds: number[] = [];

  constructor(
    private readonly ctx: ExperimentContext,
    readonly protocol: RemediesProtocol,
  ) {
    this.seeds = ctx.seeds ?? protocol.seeds;
    this.plan = planUnits(protocol, this.seeds);
    this.dir = resolve(ctx.out, `remedies-${protocol.name}`);
    this.fig7Dir = resolve(ctx.out, `fig7-${protocol.fig7.name}`);
  }

  private unitDir(key: { mLabel: string; seed: number }): string {
    return unitDirOf(this.dir, key);
  }
  private runFile(key: { mLabel: string; seed: number }, arm: RemedyArm): string {
    return join(this.unitDir(key), `${arm}.json`);
  }
  /** A unit is done when its trained arm, its threshold arm and the pre-trained network's threshold arm are. */
  private done(key: UnitKey): boolean {
    return [key.arm, `${key.arm}+threshold`, 'pretrained+threshold'].every((a) =>
      existsSync(this.runFile(key, a as RemedyArm)),
    );
  }
  private summaryPath(): string {
    return join(this.dir, `remedies-${this.protocol.name}.json`);
  }
  /** fig7's extra size-arm runs that have no result in <out>/fig7-<preset> yet. */
  private extrasPending(): { m: number; seed: number }[] {
    const x = this.protocol.fig7.extraSizeSeeds;
    if (!x) return [];
    return x.seeds
      .flatMap((seed) => x.ms.map((m) => ({ m, seed })))
      .filter((k) => !existsSync(join(unitDirOf(this.fig7Dir, { mLabel: String(k.m), seed: k.seed }), 'size.json')));
  }

  private async setup(): Promise<void> {
    const p = this.protocol;
    this.ctx.progress.line(
      `remedies (${p.name}): m ∈ {${p.ms.join(', ')}}, ${this.seeds} seeds, trained arms ${p.trained.join(', ')} (+ threshold on validation E for each network and the pre-trained one); ${this.plan.length} trained units; folder ${this.dir}; code ${this.version}`,
    );
    for (const note of p.notes) this.ctx.progress.line(`  protocol: ${note}`);
    this.pools = await loadVolumePools(this.ctx, p.fig7);
    // fig7's runner plans its own seeds (plus its extra size-arm seeds): --seeds of this command is not for it
    const { seeds: _s, ...fig7Ctx } = this.ctx;
    this.fig7 = new Fig7PaperRunner(fig7Ctx, p.fig7);
  }

  /** The paper preset starts from the committed pre-trained networks: copy the committed fig7 folder if <out> has none. */
  private seedFig7Folder(): void {
    const committed = join(repoRoot, 'docs', 'figures', 'results', `fig7-${this.protocol.fig7.name}`);
    if (existsSync(this.fig7Dir) || !existsSync(committed)) return;
    // the committed networks belong to the split they were trained on (the prepared folder's stored split)
    const theirs = readJson<{ split?: unknown }>(join(committed, 'protocol.json')).split;
    if (JSON.stringify(theirs) !== JSON.stringify(this.pools.split['counts'])) {
      this.ctx.progress.line(
        `the committed pre-trained networks (${committed}) were trained on another split (${JSON.stringify(theirs)}, this data: ${JSON.stringify(this.pools.split['counts'])}); fig7's runner pre-trains them in ${this.fig7Dir} first (hours). The downloaded slices (--data msd, all 260 volumes) have their split: use them to start from the committed networks.`,
      );
      return;
    }
    this.ctx.progress.line(`copying the committed pre-trained networks and runs ${committed} → ${this.fig7Dir}`);
    mkdirSync(dirname(this.fig7Dir), { recursive: true });
    cpSync(committed, this.fig7Dir, { recursive: true });
  }

  private fingerprint(): Record<string, unknown> {
    const { notes: _n, seeds: _s, expectedEpochs: _e, timingSteps: _t, fig7, ...rest } = this.protocol;
    return {
      protocol: rest,
      fig7: { name: fig7.name, widths: fig7.widths, batch: fig7.batch, size: fig7.size, pools: fig7.pools },
      split: this.pools.split['counts'],
      used: this.pools.split['used'],
      images: this.pools.ds.count,
      backend: this.ctx.backend ?? 'cpu',
    };
  }

  private checkFingerprint(write: boolean): void {
    checkProtocolFile(this.dir, this.fingerprint(), write, { version: this.version, progress: this.ctx.progress });
  }

  private newModel(annotated: readonly number[], seed: number): ResUNet {
    return unitModel(this.pools.ds, this.protocol.fig7.widths, annotated, seed, this.ctx.backend ?? 'cpu');
  }

  /** The pre-trained network of (m, seed), loaded (pre-trained first by fig7's runner if its folder lacks it). */
  private async pretrainedModel(
    key: UnitKey,
  ): Promise<{ model: ResUNet; record: PretrainedRecord; annotated: number[] }> {
    const { ckpt, record } = await this.fig7.pretrained(key.m, key.seed);
    const annotated = annotatedSubset(this.pools.train, key.m, key.seed);
    const model = this.newModel(annotated, key.seed);
    loadCheckpointInto(ckpt, model);
    return { model, record, annotated };
  }

  private baseRun(
    key: UnitKey,
    arm: RemedyArm,
    record: PretrainedRecord,
    annotated: number,
  ): Omit<RemedyRun, 'after' | 'phase' | 'threshold' | 'network' | 'seconds' | 'trainImages'> {
    return {
      m: record.m,
      mLabel: key.mLabel,
      seed: key.seed,
      arm,
      annotated,
      before: record.test,
      codeVersion: this.version,
      finishedAt: new Date().toISOString(),
    };
  }

  /** The pre-trained network with the threshold chosen on validation sizes (once per m and seed). */
  private async pretrainedThreshold(key: UnitKey): Promise<void> {
    const path = this.runFile(key, 'pretrained+threshold');
    if (existsSync(path)) return;
    const t0 = performance.now();
    const { model, record, annotated } = await this.pretrainedModel(key);
    const { after, threshold } = await thresholdArm(
      model,
      this.pools.ds,
      this.pools.val,
      this.pools.test,
      this.protocol.thresholds,
    );
    const network = `fig7-${this.protocol.fig7.name}/runs/m${key.mLabel}-s${key.seed}/pretrained.ckpt (under --out)`;
    const run: RemedyRun = {
      ...this.baseRun(key, 'pretrained+threshold', record, annotated.length),
      trainImages: 0,
      after,
      phase: null,
      threshold,
      network,
      seconds: (performance.now() - t0) / 1000,
    };
    mkdirSync(this.unitDir(key), { recursive: true });
    writeAtomic(path, jsonText(run));
    this.ctx.progress.line(
      `  pretrained+threshold m=${key.mLabel} s${key.seed}: t = ${threshold.t} → test IoU ${fmtPct(record.test.iou)} → ${fmtPct(after.iou)}, foreground ${fmtPct(record.test.fgPred)} → ${fmtPct(after.fgPred)}`,
    );
  }

  /** A trained arm from the pre-trained network: resumed from `<arm>.last.ckpt`; leaves `<arm>.ckpt` and `<arm>.json`. */
  private async trainedArm(key: UnitKey): Promise<void> {
    const f7 = this.protocol.fig7;
    const dir = this.unitDir(key);
    const runPath = this.runFile(key, key.arm);
    const netPath = join(dir, `${key.arm}.ckpt`);
    if (existsSync(runPath) && existsSync(netPath)) return;
    mkdirSync(dir, { recursive: true });
    const { ds } = this.pools;
    const { model, record, annotated } = await this.pretrainedModel(key);
    const lastPath = join(dir, `${key.arm}.last.ckpt`);
    const label = `${key.arm} m=${key.mLabel} s${key.seed}`;
    const config = {
      model: 'ResUNet',
      widths: f7.widths,
      m: key.mLabel,
      seed: key.seed,
      arm: key.arm,
      experiment: 'remedies',
    };
    // the estimator's samples: fig7's stream (seed ^ 0x5eed), so the size arm repeats fig7's size arm
    const trained = await trainArm({
      label,
      model,
      ds,
      valIndices: this.pools.val,
      lastPath,
      seed: key.seed,
      batch: f7.batch,
      phase: f7.size,
      config,
      progress: this.ctx.progress,
      doing: 'training',
      objective: (sampler, saved) => this.armObjective(key, model, annotated, sampler, saved),
      epochLine: (state) => this.etaLine(key, state.epoch),
    });
    // the model holds the best-E weights now
    await saveModelCheckpoint(netPath, model, {
      config,
      epoch: trained.result.best?.epoch ?? 0,
      phase: key.arm,
      metrics: {},
    });
    const after = await testRecord(model, ds, this.pools.test);
    const run: RemedyRun = {
      ...this.baseRun(key, key.arm, record, annotated.length),
      trainImages: trained.trainIndices.length,
      after,
      threshold: null,
      network: `${key.arm}.ckpt`,
      phase: trained.phase,
      seconds: trained.seconds(),
    };
    leaveArm(runPath, run, lastPath);
    this.ctx.progress.line(armFinishedLine(label, trained.phase, record.test, after));
  }

  /** The objective of a trained arm (the estimator's samples from `sampler`). */
  private async armObjective(
    key: UnitKey,
    model: ResUNet,
    annotated: number[],
    sampler: Rng,
    saved: Record<string, unknown>,
  ): Promise<ArmObjective> {
    const p = this.protocol;
    const f7 = p.fig7;
    const { ds, train } = this.pools;
    if (key.arm === 'size') {
      return { step: sizeStep(model, sampler, f7.size.samples, f7.size.estimator), trainIndices: train };
    }
    if (key.arm === 'anchor') {
      // p₀ from the pre-trained weights (the model holds them now; a resumed phase gets its own weights after this)
      const logits = await predictLogits(model, ds, train, 32);
      const V = ds.height * ds.width;
      const targets = new Map<number, Float32Array>();
      train.forEach((n, i) => {
        const p0 = new Float32Array(V);
        for (let j = 0; j < V; j++) p0[j] = 1 / (1 + Math.exp(-logits[i * V + j]!));
        targets.set(n, p0);
      });
      return { step: anchorStep(model, sampler, f7.size.samples, p.anchorWeight, targets), trainIndices: train };
    }
    const annotatedSet = new Set(annotated);
    const rest = train.filter((i) => !annotatedSet.has(i));
    return {
      ...jointObjective(model, ds, annotated, f7.batch, sampler, p.jointLambda, f7.size.samples, saved),
      // at m = all nothing is left without masks: the size term then runs over the whole split
      trainIndices: rest.length > 0 ? rest : train,
    };
  }

  /** The trained arm's network with the threshold chosen on validation sizes. */
  private async trainedThreshold(key: UnitKey): Promise<void> {
    const arm = `${key.arm}+threshold` as RemedyArm;
    const path = this.runFile(key, arm);
    if (existsSync(path)) return;
    const t0 = performance.now();
    const { model, record, annotated } = await this.pretrainedModel(key);
    loadCheckpointInto(join(this.unitDir(key), `${key.arm}.ckpt`), model);
    const trained = readJson<RemedyRun>(this.runFile(key, key.arm));
    const { after, threshold } = await thresholdArm(
      model,
      this.pools.ds,
      this.pools.val,
      this.pools.test,
      this.protocol.thresholds,
    );
    const run: RemedyRun = {
      ...this.baseRun(key, arm, record, annotated.length),
      trainImages: trained.trainImages,
      after,
      phase: trained.phase,
      threshold,
      network: `${key.arm}.ckpt`,
      seconds: (performance.now() - t0) / 1000,
    };
    writeAtomic(path, jsonText(run));
    this.ctx.progress.line(
      `  ${arm} m=${key.mLabel} s${key.seed}: t = ${threshold.t} → test IoU ${fmtPct(trained.after.iou)} (t = 0.5) → ${fmtPct(after.iou)}, foreground ${fmtPct(trained.after.fgPred)} → ${fmtPct(after.fgPred)}`,
    );
  }

  private etaLine(key: UnitKey, epoch: number): string {
    const index = this.plan.indexOf(key) + 1;
    const finished = this.plan.filter((k) => this.done(k)).length;
    const perUnit = this.unitSeconds.length ? mean(this.unitSeconds) : null;
    const eta =
      perUnit === null
        ? 'ETA after the first unit'
        : `ETA ${formatSeconds(perUnit * (this.plan.length - finished))} (+ fig7 extra seeds)`;
    return `[remedies ${this.protocol.name}] unit ${index}/${this.plan.length} (m = ${key.mLabel}, seed ${key.seed}, ${key.arm}) epoch ${epoch}/${this.protocol.fig7.size.epochs} · ${finished} units finished · ${sessionNote(this.startedAt)} · ${eta}`;
  }

  private finishedRuns(): RemedyRun[] {
    const out: RemedyRun[] = [];
    for (let seed = 0; seed < this.seeds; seed++) {
      for (const m of this.protocol.ms) {
        for (const arm of REMEDY_ARMS) {
          const f = this.runFile({ mLabel: String(m), seed }, arm);
          if (existsSync(f)) out.push(readJson<RemedyRun>(f));
        }
      }
    }
    return out;
  }

  private writeSummary(): Record<string, unknown> {
    const p = this.protocol;
    const runs = this.finishedRuns();
    const table = buildRemediesTable(runs, p.ms);
    const unitsDone = this.plan.filter((k) => this.done(k)).length;
    const summary = {
      experiment: 'remedies',
      preset: p.name,
      presetNotes: p.notes,
      complete: unitsDone === this.plan.length,
      unitsDone,
      unitsTotal: this.plan.length,
      runsDone: runs.length,
      config: {
        ms: p.ms,
        seeds: this.seeds,
        trained: p.trained,
        arms: REMEDY_ARMS,
        widths: p.fig7.widths,
        batch: p.fig7.batch,
        size: p.fig7.size,
        jointLambda: p.jointLambda,
        anchorWeight: p.anchorWeight,
        thresholds: p.thresholds,
        choices:
          'epoch: lowest validation E (sizes only); threshold: lowest mean validation E over the grid (logits and sizes only; ties to the one nearest 0.5); λ and μ fixed before the runs',
        pretrained: `fig7-${p.fig7.name}/runs/m<M>-s<seed>/pretrained.ckpt`,
        split: this.pools.split,
        codeVersion: readJson<{ codeVersion?: string }>(join(this.dir, 'protocol.json')).codeVersion ?? this.version,
        codeVersionsOfRuns: [...new Set(runs.map((r) => r.codeVersion))],
      },
      data: this.pools.ds.source,
      machine: machineInfo(),
      backend: backendRecord(this.ctx),
      table,
      recommended: recommendArm(table, p.ms),
      runs,
      seconds: runs.reduce((s, r) => s + r.seconds, 0),
    };
    writeAtomic(this.summaryPath(), jsonText(summary));
    for (const [name, text] of Object.entries(remediesViews(summary))) writeAtomic(join(this.dir, name), text);
    return summary;
  }

  /** Seconds per step of each trained arm and per evaluated image, on the real model (after a warm-up step). */
  private async measureTiming(): Promise<Record<string, number>> {
    const p = this.protocol;
    const { ds } = this.pools;
    const annotated = annotatedSubset(this.pools.train, 10, 0);
    const model = this.newModel(annotated, 0);
    const rng = new Rng(1);
    const V = ds.height * ds.width;
    const targets = new Map<number, Float32Array>(
      this.pools.train.slice(0, 4 * p.fig7.batch).map((n) => [n, new Float32Array(V).fill(0.1)]),
    );
    const out = await timeTrainSteps(model, ds, {
      lr: p.fig7.size.lr,
      steps: p.timingSteps,
      batchAt: (k) =>
        Array.from(
          { length: Math.min(p.fig7.batch, this.pools.train.length) },
          (_, i) => this.pools.train[(k * p.fig7.batch + i) % Math.min(this.pools.train.length, 4 * p.fig7.batch)]!,
        ),
      kinds: [
        ['size', sizeStep(model, rng, p.fig7.size.samples, p.fig7.size.estimator), null],
        ['anchor', anchorStep(model, rng, p.fig7.size.samples, p.anchorWeight, targets), null],
        ['joint', jointStep(model, ds, annotated, p.fig7.batch, rng, p.jointLambda), null],
      ],
    });
    const imgs = this.pools.val.slice(0, Math.min(this.pools.val.length, 128));
    await predictLogits(model, ds, imgs.slice(0, 32));
    const t0 = performance.now();
    await predictLogits(model, ds, imgs);
    out['evalPerImage'] = (performance.now() - t0) / 1000 / imgs.length;
    return out;
  }

  /** Expected seconds of a unit: epochs × (steps + validation) + test and threshold evaluations. */
  private unitEstimate(t: Record<string, number>, key: UnitKey, epochs: number): number {
    const p = this.protocol;
    const steps = Math.ceil(this.pools.train.length / p.fig7.batch);
    const evalImages = (n: number) => n * t['evalPerImage']!;
    const perEpoch = steps * t[key.arm]! + evalImages(this.pools.val.length);
    const anchorTargets = key.arm === 'anchor' ? evalImages(this.pools.train.length) : 0;
    return epochs * perEpoch + anchorTargets + 3 * evalImages(this.pools.val.length + this.pools.test.length);
  }

  async dryRun(): Promise<ExperimentOutcome> {
    await this.setup();
    if (existsSync(this.dir)) this.checkFingerprint(false);
    const hasFig7 =
      existsSync(this.fig7Dir) ||
      existsSync(join(repoRoot, 'docs', 'figures', 'results', `fig7-${this.protocol.fig7.name}`));
    this.ctx.progress.line(
      `pre-trained networks: ${existsSync(this.fig7Dir) ? this.fig7Dir : hasFig7 ? 'the committed fig7 folder (copied to ' + this.fig7Dir + ' at the start)' : `none: fig7's runner pre-trains them in ${this.fig7Dir} first`}`,
    );
    this.ctx.progress.line(
      `units (${this.plan.length}; each: a trained arm, its threshold arm, and once per m and seed the pre-trained network's threshold arm):`,
    );
    this.plan.forEach((key, i) => {
      const last = join(this.unitDir(key), `${key.arm}.last.ckpt`);
      const state = this.done(key)
        ? 'finished'
        : existsSync(last)
          ? 'partial (resumes after its last epoch)'
          : 'pending';
      this.ctx.progress.line(
        `  ${String(i + 1).padStart(3)}. m = ${key.mLabel.padEnd(4)} seed ${key.seed}  ${key.arm.padEnd(7)} ${state}`,
      );
    });
    const extra = this.extrasPending().length > 0 ? this.protocol.fig7.extraSizeSeeds : undefined;
    if (extra)
      this.ctx.progress.line(
        `then fig7's extra size-arm seeds ${extra.seeds.join(', ')} at m ∈ {${extra.ms.join(', ')}} (pre-training + size arm each) in ${this.fig7Dir}`,
      );
    this.ctx.progress.line(`timing ${this.protocol.timingSteps} steps of each arm on the real model …`);
    const t = await this.measureTiming();
    this.ctx.progress.line(
      `  per step of ${this.protocol.fig7.batch}: size ${t['size']!.toFixed(3)}s, anchor ${t['anchor']!.toFixed(3)}s, joint ${t['joint']!.toFixed(3)}s; evaluation ${(1000 * t['evalPerImage']!).toFixed(2)} ms/image`,
    );
    const pending = this.plan.filter((k) => !this.done(k));
    const expected = pending.reduce((s, k) => s + this.unitEstimate(t, k, this.protocol.expectedEpochs), 0);
    const upper = pending.reduce((s, k) => s + this.unitEstimate(t, k, this.protocol.fig7.size.epochs), 0);
    // fig7's extra seeds: a pre-training (~15 epochs of ≥ 512 images) and a size arm each
    const extraUnits = this.extrasPending().length;
    const extraSeconds =
      extraUnits *
      (this.unitEstimate(t, { m: 10, mLabel: '10', seed: 0, arm: 'size' }, this.protocol.expectedEpochs) +
        15 *
          (Math.ceil(this.protocol.fig7.pretrain.minImagesPerEpoch / this.protocol.fig7.batch) * t['size']! +
            this.pools.val.length * t['evalPerImage']!));
    this.ctx.progress.line(
      `estimate for the ${pending.length} units not finished: ${formatSeconds(expected)} expected (${this.protocol.expectedEpochs} epochs per arm), ${formatSeconds(upper)} at most (${this.protocol.fig7.size.epochs} epochs each); fig7's ${extraUnits} extra runs about ${formatSeconds(extraSeconds)} more`,
    );
    this.ctx.progress.line(
      '  (timed on a shared machine: noisy; load average ' + String(machineInfo()['loadAverage']) + ')',
    );
    return {
      dir: this.dir,
      files: [],
      summary: {
        dryRun: true,
        units: this.plan.length,
        pending: pending.length,
        timing: t,
        expectedSeconds: expected,
        upperBoundSeconds: upper,
        extraSeconds,
      },
    };
  }

  async run(): Promise<ExperimentOutcome> {
    await this.setup();
    if (existsSync(this.dir)) this.checkFingerprint(false);
    const pending = this.plan.filter((k) => !this.done(k));
    const extra = this.extrasPending().length > 0 ? this.protocol.fig7.extraSizeSeeds : undefined;
    const files = [this.summaryPath(), ...remediesViewNames(this.protocol.name).map((f) => join(this.dir, f))];
    const finished = pending.length === 0 && !extra ? completeSummary(this.summaryPath()) : null;
    if (finished) {
      this.ctx.progress.line(
        `nothing to do: all ${this.plan.length} units of remedies ${this.protocol.name} are finished; results in ${this.summaryPath()}`,
      );
      return { dir: this.dir, files: [], summary: finished };
    }
    this.seedFig7Folder();
    this.checkFingerprint(true);
    this.ctx.progress.line(
      `${this.plan.length - pending.length} of ${this.plan.length} units already finished; ${pending.length} to go`,
    );
    let summary: Record<string, unknown> = existsSync(this.summaryPath())
      ? readJson<Record<string, unknown>>(this.summaryPath())
      : {};
    for (const key of pending) {
      const t0 = performance.now();
      this.ctx.progress.line(
        `[unit ${this.plan.indexOf(key) + 1}/${this.plan.length}] m = ${key.mLabel}, seed ${key.seed}, ${key.arm}`,
      );
      await this.pretrainedThreshold(key);
      await this.trainedArm(key);
      await this.trainedThreshold(key);
      this.unitSeconds.push((performance.now() - t0) / 1000);
      summary = this.writeSummary();
    }
    if (pending.length > 0 || !existsSync(this.summaryPath())) summary = this.writeSummary();
    if (extra) {
      this.ctx.progress.line(
        `fig7's extra seeds (${extra.seeds.join(', ')}) of the size arm at m ∈ {${extra.ms.join(', ')}}, in ${this.fig7Dir}:`,
      );
      await this.fig7.run();
    }
    if (pending.length === 0 && !extra) this.ctx.progress.line('every unit was finished; summary rewritten');
    for (const r of (summary['table'] as RemedyTableRow[] | undefined) ?? []) {
      this.ctx.progress.line(
        `  ${r.arm.padEnd(20)} m = ${r.mLabel.padEnd(4)} (${r.seeds} seeds): IoU ${fmtPct(r.iouBefore.mean)} → ${fmtPct(r.iouAfter.mean)} (gain ${(100 * r.iouGain.mean).toFixed(1)} ± ${(100 * r.iouGain.se).toFixed(1)} pt), foreground ${fmtPct(r.fgAfter.mean)} (true ${fmtPct(r.fgTrue.mean)})`,
      );
    }
    return { dir: this.dir, files, summary };
  }
}

export type RemedyTableRow = SeedTableRow<RemedyArm> & {
  /** Chosen probability threshold (0.5 for the trained arms). */
  threshold: MeanSe;
  phaseEpochs: MeanSe;
};

/** One row per arm and m (m ascending): means and standard errors over the seeds that finished (fig7-paper.json's format). */
export function buildRemediesTable(runs: readonly RemedyRun[], ms: readonly (number | 'all')[]): RemedyTableRow[] {
  const order = [...ms].sort((a, b) => (a === 'all' ? Infinity : a) - (b === 'all' ? Infinity : b));
  return seedTable(runs, REMEDY_ARMS, order, (col) => ({
    threshold: col((r) => r.threshold?.t ?? 0.5),
    phaseEpochs: col((r) => r.phase?.epochs ?? 0),
  }));
}

export interface Recommendation {
  arm: RemedyArm | null;
  /** Lowest mean gain over the m values (points as a fraction), and the mean gain at the smallest m. */
  worstGain: number | null;
  smallestMGain: number | null;
  /** The issue's bar: worst mean gain ≥ −0.5 points, ≥ +10 at the smallest m, ≥ 3 seeds at every m. */
  meetsBar: boolean;
  why: string;
}

/**
 * The arm for users: among the arms with results at every m, the one whose worst mean test-IoU gain over m is
 * highest (a remedy should never hurt); ties to the larger gain at the smallest m. This is a reading of the
 * test results for the report, after every choice inside the arms was made without test labels.
 */
export function recommendArm(table: readonly RemedyTableRow[], ms: readonly (number | 'all')[]): Recommendation {
  const labels = [...ms].sort((a, b) => (a === 'all' ? Infinity : a) - (b === 'all' ? Infinity : b)).map(String);
  const smallest = String([...ms].filter((m): m is number => m !== 'all').sort((a, b) => a - b)[0] ?? 'all');
  let best: Recommendation = {
    arm: null,
    worstGain: null,
    smallestMGain: null,
    meetsBar: false,
    why: 'no arm has results at every m yet',
  };
  for (const arm of REMEDY_ARMS) {
    if (arm === 'pretrained+threshold') continue; // not a size training
    const rows = labels.map((l) => table.find((r) => r.arm === arm && r.mLabel === l));
    if (rows.some((r) => r === undefined)) continue;
    const worst = Math.min(...rows.map((r) => r!.iouGain.mean));
    const small = rows.find((r) => r!.mLabel === smallest)!.iouGain.mean;
    if (
      best.worstGain === null ||
      worst > best.worstGain ||
      (worst === best.worstGain && small > (best.smallestMGain ?? -Infinity))
    ) {
      const seedsOk = rows.every((r) => r!.seeds >= 3);
      best = {
        arm,
        worstGain: worst,
        smallestMGain: small,
        meetsBar: seedsOk && worst >= -0.005 && small >= 0.1,
        why: `highest worst-case mean gain over m ∈ {${labels.join(', ')}}: ${(100 * worst).toFixed(1)} points (m = ${smallest}: ${(100 * small).toFixed(1)}); seeds per m ${rows.map((r) => r!.seeds).join('/')}`,
      };
    }
  }
  return best;
}

export function runRemedies(
  ctx: ExperimentContext,
  protocol: RemediesProtocol,
  options: { dryRun?: boolean } = {},
): Promise<ExperimentOutcome> {
  const runner = new RemediesRunner(ctx, protocol);
  return options.dryRun ? runner.dryRun() : runner.run();
}
