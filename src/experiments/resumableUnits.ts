/**
 * What the two resumable paper-scale experiments share: Fig. 7 at paper scale (fig7paper.ts) and the remedies
 * of issue 23 (remedies.ts). Both train arms from a pre-trained network, one unit folder per m and seed
 * (`<experiment folder>/runs/m<M>-s<seed>/`), for hours on 2 cores, so both must survive a SIGKILL anywhere:
 *  - while an arm trains, `<arm>.last.ckpt` holds its last epoch (weights, best weights, Adam state, the batch,
 *    flip and objective streams, the history); a rerun continues from it with exactly the updates of an
 *    uninterrupted run, so at most one epoch is lost;
 *  - a finished arm leaves its record `<arm>.json` first and only then drops `<arm>.last.ckpt`;
 *  - `protocol.json` holds the protocol and data a folder was started with, and a later command must match it.
 * The file names and JSON fields are read by folders that older checkouts write (a running study): keep them.
 * What differs — the arms, the protocols, the records, the reports — stays in the experiments' own files.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../autograd/rng.js';
import { Tensor } from '../autograd/tensor.js';
import { makeBatch, type SegDataset } from '../data/index.js';
import { ResUNet } from '../models/resunet.js';
import { Adam } from '../models/optim.js';
import { foregroundPriorLogit } from '../train/metrics.js';
import { trainStep } from '../train/step.js';
import { formatSeconds, type Progress } from '../cli/progress.js';
import {
  columnOver,
  fmtPct,
  runPhase,
  type MeanSe,
  type PhaseEpoch,
  type PhaseResult,
  type PhaseState,
  type StepFn,
} from './common.js';
import { AnnotatedBatches, jointStep } from './objectives.js';
import { loadPhaseState, savePhaseState } from './phaseCheckpoint.js';
import { afterCheckpoint, jsonText, readJson, writeAtomic } from './runFiles.js';

/** What `run()` and `dryRun()` of a runner return (the CLI prints the files). */
export interface ExperimentOutcome {
  dir: string;
  files: string[];
  summary: Record<string, unknown>;
}

/** The folder of one (m, seed) unit of an experiment folder. */
export function unitDirOf(experimentDir: string, key: { mLabel: string; seed: number }): string {
  return join(experimentDir, 'runs', `m${key.mLabel}-s${key.seed}`);
}

/**
 * Check `<dir>/protocol.json` against this command's fingerprint (the protocol and data), or write it when the
 * folder starts (`write`). A folder started with other settings is an error that says what to do. With `code`,
 * the file also pins the code version the folder was started on: another version only warns (numerics can
 * differ between versions; each run records its own).
 */
export function checkProtocolFile(
  dir: string,
  fingerprint: Record<string, unknown>,
  write: boolean,
  code?: { version: string; progress: Progress },
): void {
  const path = join(dir, 'protocol.json');
  if (existsSync(path)) {
    const theirs = readJson<Record<string, unknown>>(path);
    const { codeVersion: pinned, ...rest } = theirs;
    if (JSON.stringify(code ? rest : theirs) !== JSON.stringify(fingerprint)) {
      throw new Error(
        `${path} records another protocol or data than this command's; continue with the original settings, or use another --out.`,
      );
    }
    if (code && pinned !== code.version) {
      code.progress.line(
        `WARNING: this folder was started on code ${String(pinned)}, this command runs ${code.version}: numerics can differ between versions; continue from a checkout of ${String(pinned)} to keep one code version (each run records its own).`,
      );
    }
  } else if (write) {
    mkdirSync(dir, { recursive: true });
    writeAtomic(path, jsonText(code ? { ...fingerprint, codeVersion: code.version } : fingerprint));
  }
}

/** The summary JSON when it says that every unit has finished (a rerun then has nothing to do), else null. */
export function completeSummary(path: string): Record<string, unknown> | null {
  if (!existsSync(path)) return null;
  const summary = readJson<Record<string, unknown>>(path);
  return summary['complete'] === true ? summary : null;
}

/**
 * A unit's network before its weights are loaded: built on the host (the same initial weights on every backend),
 * then moved to the run's backend in place.
 */
export function unitModel(
  ds: SegDataset,
  widths: number[],
  annotated: readonly number[],
  seed: number,
  backend: string,
): ResUNet {
  return new ResUNet({
    widths,
    rng: new Rng(seed),
    headBias: foregroundPriorLogit(ds.masks, annotated, ds.height * ds.width),
  }).to(backend);
}

/** An arm's objective, built on the estimator's sample stream. */
export interface ArmObjective {
  step: StepFn;
  trainIndices: number[];
  /** Streams besides the sampler that the step draws from: checkpointed with it, so a resumed arm continues them. */
  streams?: Record<string, { getState(): unknown }>;
}

/**
 * The joint objective (BCE on batches of the annotated images + λ·size loss), its annotated-batch stream
 * continued from the state a checkpoint saved, or new and forked from the sampler (as Fig. 7's joint arm has
 * always done: the fork moves the sampler, so it belongs to the arm's random streams).
 */
export function jointObjective(
  model: ResUNet,
  ds: SegDataset,
  annotated: readonly number[],
  batch: number,
  sampler: Rng,
  lambda: number,
  samples: number,
  saved: Record<string, unknown>,
): Omit<ArmObjective, 'trainIndices'> {
  const stream = saved['annotated']
    ? new AnnotatedBatches(
        ds,
        annotated,
        batch,
        sampler,
        saved['annotated'] as ConstructorParameters<typeof AnnotatedBatches>[4],
      )
    : new AnnotatedBatches(ds, annotated, batch, sampler.fork());
  return {
    step: jointStep(model, ds, annotated, batch, sampler, lambda, samples, stream),
    streams: { annotated: stream },
  };
}

/** What a finished arm records about its phase (`<arm>.json`'s `phase`). */
export interface PhaseRecord {
  epochs: number;
  bestEpoch: number;
  trainSeconds: number;
  valSeconds: number;
  valStart: { E: number; iou: number } | null;
  history: { epoch: number; losses: Record<string, number>; val: { E: number; iou: number } | null; best: boolean }[];
}

export interface ArmTraining {
  /** Names the phase in progress lines and checkpoints: `<arm> m=<M> s<seed>`. */
  label: string;
  /** Holds the pre-trained weights; a resumed phase puts its saved weights in when it starts. */
  model: ResUNet;
  ds: SegDataset;
  valIndices: readonly number[];
  /** The unit folder's `<arm>.last.ckpt`. */
  lastPath: string;
  seed: number;
  batch: number;
  /** The size phase of the fig7 protocol: both experiments train every arm with it. */
  phase: { epochs: number; patience: number; lr: number };
  /** The checkpoints' `config`. */
  config: Record<string, unknown>;
  progress: Progress;
  /** What the first progress line says the arm does, `… on N images from the pre-trained network`. */
  doing: string;
  /** The arm's objective on the sampler; `saved` holds the streams' states of the checkpoint it resumes from. */
  objective: (sampler: Rng, saved: Record<string, unknown>) => ArmObjective | Promise<ArmObjective>;
  /** The progress line after each epoch's checkpoint (the ETA). */
  epochLine: (state: PhaseState) => string;
}

export interface TrainedArmPhase {
  /** The model holds the best-E weights now. */
  result: PhaseResult;
  trainIndices: number[];
  phase: PhaseRecord;
  /** Wall seconds of the arm so far: this session's since the phase started, and the epochs earlier sessions ran. */
  seconds: () => number;
}

/**
 * Train an arm, or continue it from `<arm>.last.ckpt`: until validation E stops improving, best-E weights kept,
 * a checkpoint after every epoch. The estimator's samples come from Fig. 7's size-phase stream (Rng(seed ^
 * 0x5eed)), or from the state the checkpoint saved. The caller evaluates, then leaves the record with `leaveArm`.
 */
export async function trainArm(o: ArmTraining): Promise<TrainedArmPhase> {
  const resume: PhaseState | undefined = existsSync(o.lastPath) ? loadPhaseState(o.lastPath, o.model) : undefined;
  const saved = resume?.streams ?? {};
  const sampler = saved['sampler']
    ? Rng.fromState(saved['sampler'] as ReturnType<Rng['getState']>)
    : new Rng(o.seed ^ 0x5eed);
  const objective = await o.objective(sampler, saved);
  const streams: Record<string, { getState(): unknown }> = { sampler, ...objective.streams };
  o.progress.line(
    resume
      ? `  ${o.label}: resuming after epoch ${resume.epoch} (${o.lastPath})`
      : `  ${o.label}: ${o.doing} on ${objective.trainIndices.length} images from the pre-trained network`,
  );
  const t0 = performance.now();
  const r = await runPhase({
    label: o.label,
    model: o.model,
    ds: o.ds,
    trainIndices: objective.trainIndices,
    valIndices: o.valIndices,
    epochs: o.phase.epochs,
    patience: o.phase.patience,
    batch: o.batch,
    lr: o.phase.lr,
    seed: o.seed,
    flips: false,
    step: objective.step,
    score: (v) => -v.sizeError,
    progress: o.progress,
    streams,
    ...(resume ? { resume } : {}),
    onState: (state) => {
      savePhaseState(o.lastPath, o.model, state, o.label, o.config);
      afterCheckpoint();
      o.progress.line(o.epochLine(state));
    },
  });
  const sum = (f: (h: PhaseEpoch) => number) => r.history.reduce((s, h) => s + f(h), 0);
  return {
    result: r,
    trainIndices: objective.trainIndices,
    phase: {
      epochs: r.history.length,
      bestEpoch: r.best?.epoch ?? 0,
      trainSeconds: sum((h) => h.trainSeconds),
      valSeconds: sum((h) => h.valSeconds),
      valStart: r.start ? { E: r.start.sizeError, iou: r.start.iou } : null,
      history: r.history.map((h) => ({
        epoch: h.epoch,
        losses: h.losses,
        val: h.val ? { E: h.val.sizeError, iou: h.val.iou } : null,
        best: h.best,
      })),
    },
    seconds: () =>
      (performance.now() - t0) / 1000 +
      sum((h) => (h.epoch <= (resume?.epoch ?? 0) ? h.trainSeconds + h.valSeconds : 0)),
  };
}

/** Finish an arm: its record first, then drop its epoch checkpoint (a kill in between reruns nothing). */
export function leaveArm(recordPath: string, record: unknown, lastPath: string): void {
  writeAtomic(recordPath, jsonText(record));
  rmSync(lastPath, { force: true });
}

/** Test metrics of a network as the tables and progress lines read them. */
interface TestOutcome {
  iou: number;
  dice: number;
  E: number;
  fgPred: number;
  fgTrue: number;
}

/** The progress line of a finished arm: its epochs, and test IoU, E and foreground before → after. */
export function armFinishedLine(label: string, phase: PhaseRecord, before: TestOutcome, after: TestOutcome): string {
  return `  ${label}: ${phase.epochs} epochs (best ${phase.bestEpoch}); test IoU ${fmtPct(before.iou)} → ${fmtPct(after.iou)}, E ${before.E.toFixed(2)} → ${after.E.toFixed(2)}, foreground ${fmtPct(before.fgPred)} → ${fmtPct(after.fgPred)} (true ${fmtPct(after.fgTrue)})`;
}

/** The end of every ETA line: this process's time and memory. */
export function sessionNote(startedAt: number): string {
  return `this session ${formatSeconds((performance.now() - startedAt) / 1000)}, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`;
}

/**
 * Seconds per training step of each objective on the real model and data (the time estimates): `steps` timed
 * steps after one untimed warm-up step (kernel plans, allocation). A kind with a flip stream flips its batches.
 */
export async function timeTrainSteps(
  model: ResUNet,
  ds: SegDataset,
  o: { lr: number; steps: number; batchAt: (k: number) => number[]; kinds: [string, StepFn, Rng | null][] },
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const optimizer = new Adam(model.parameters(), { lr: o.lr });
  model.train();
  for (const [name, step, flip] of o.kinds) {
    let t = 0;
    for (let k = 0; k <= o.steps; k++) {
      const b = makeBatch(ds, o.batchAt(k), flip ? { flip } : {});
      const t0 = performance.now();
      await trainStep(optimizer, () => step(b, new Tensor(b.images, [b.batch, 1, ds.height, ds.width])));
      if (model.backend !== 'cpu') await model.hostStateDict();
      if (k > 0) t += performance.now() - t0;
    }
    out[name] = t / 1000 / o.steps;
  }
  return out;
}

/** The columns of a seeds table row that every arm of both experiments has. */
export interface SeedTableRow<A extends string> {
  arm: A;
  m: number;
  mLabel: string;
  seeds: number;
  iouBefore: MeanSe;
  iouAfter: MeanSe;
  iouGain: MeanSe;
  diceBefore: MeanSe;
  diceAfter: MeanSe;
  EBefore: MeanSe;
  EAfter: MeanSe;
  fgBefore: MeanSe;
  fgAfter: MeanSe;
  fgTrue: MeanSe;
}

/**
 * The table of a summary JSON: one row per arm and m (arms in `arms` order, m in `ms` order) over the seeds that
 * finished, each column the mean and standard error; `more` adds the experiment's own columns after the shared ones.
 */
export function seedTable<
  R extends { arm: string; m: number; mLabel: string; before: TestOutcome; after: TestOutcome },
  X extends Record<string, MeanSe>,
>(
  runs: readonly R[],
  arms: readonly R['arm'][],
  ms: readonly (number | 'all')[],
  more: (col: (f: (r: R) => number) => MeanSe) => X,
): (SeedTableRow<R['arm']> & X)[] {
  const rows: (SeedTableRow<R['arm']> & X)[] = [];
  for (const arm of arms) {
    for (const m of ms) {
      const rs = runs.filter((r) => r.arm === arm && r.mLabel === String(m));
      if (rs.length === 0) continue;
      const col = columnOver<R>(rs);
      rows.push({
        arm,
        m: rs[0]!.m,
        mLabel: String(m),
        seeds: rs.length,
        iouBefore: col((r) => r.before.iou),
        iouAfter: col((r) => r.after.iou),
        iouGain: col((r) => r.after.iou - r.before.iou),
        diceBefore: col((r) => r.before.dice),
        diceAfter: col((r) => r.after.dice),
        EBefore: col((r) => r.before.E),
        EAfter: col((r) => r.after.E),
        fgBefore: col((r) => r.before.fgPred),
        fgAfter: col((r) => r.after.fgPred),
        fgTrue: col((r) => r.after.fgTrue),
        ...more(col),
      });
    }
  }
  return rows;
}
