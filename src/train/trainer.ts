/**
 * The two training phases of the method, and evaluation:
 *  - `pretrain`: BCE-with-logits on m pixel-annotated images until validation IoU stops improving;
 *  - `sizetrain`: the size loss (Lemma-1 estimator, n samples) on images labelled only by object size,
 *    until validation E stops improving; with `joint`, BCE on the annotated images + λ·size loss (joint.ts).
 * Both keep the best weights (restored at the end), report every step and epoch to a `TrainObserver`,
 * and stop early and cleanly when `shouldStop()` turns true (Ctrl-C in the CLI).
 */
import { noGrad } from '../autograd/engine.js';
import { toHost } from '../autograd/ops/transfer.js';
import { backendInstance } from '../backend.js';
import { bceWithLogits } from '../autograd/ops/loss.js';
import { Rng, type RngState } from '../autograd/rng.js';
import { Tensor } from '../autograd/tensor.js';
import { scope } from '../kernels/engine.js';
import { trainStep } from './step.js';
import { batchIterator, makeBatch, type SegDataset } from '../data/dataset.js';
import { sizeLoss } from '../estimators/sizeLossOp.js';
import type { Lemma1Method } from '../estimators/lemma1.js';
import type { Module } from '../models/module.js';
import { Adam, type AdamState } from '../models/optim.js';
import { MetricAccumulator, thresholdLogits, type SegMetrics } from './metrics.js';
import {
  AnnotatedBatches,
  checkJointOptions,
  maskTensor,
  type AnnotatedBatchesState,
  type JointOptions,
} from './joint.js';

export interface EpochRecord {
  phase: 'pretrain' | 'sizetrain';
  epoch: number;
  trainLoss: number;
  val: SegMetrics;
  seconds: number;
  best: boolean;
}

export interface TrainObserver {
  onStep?(info: { phase: string; epoch: number; step: number; steps: number; loss: number }): void;
  onEpoch?(record: EpochRecord): void;
  shouldStop?(): boolean;
  /** Awaited after every step (before `shouldStop`): a page holds training here while the user has paused it. */
  pause?(): Promise<void> | void;
}

/**
 * Let timers, messages and signals (Ctrl-C) through between steps: `setImmediate` in Node; in a browser (where
 * it does not exist) a MessageChannel round trip, which unlike `setTimeout(0)` is not clamped to 4 ms.
 */
function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => unknown };
  if (typeof g.setImmediate === 'function') return new Promise((resolve) => g.setImmediate!(resolve));
  return new Promise((resolve) => {
    // typed structurally: Node's and the DOM's MessagePort types differ, the browser one is used here
    const channel = new MessageChannel() as unknown as {
      port1: { onmessage: (() => void) | null; close(): void };
      port2: { postMessage(m: unknown): void };
    };
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

export interface TrainOptions {
  epochs: number;
  patience: number;
  batch: number;
  lr: number;
  seed: number;
  /** Validation images (indices into the dataset). */
  valIndices: readonly number[];
  observer?: TrainObserver;
  /**
   * Called after every completed epoch (before `observer.onEpoch`) with everything needed to continue the
   * run later; the CLI writes it to `last.ckpt` (resume.ts). The model's own weights are the current ones.
   */
  onState?: (state: TrainState) => void;
  /**
   * Continue a run from a state `onState` produced, with the model already holding that state's weights.
   * The continuation makes exactly the updates the uninterrupted run would have made.
   */
  resume?: TrainState;
}

/** A training run between two epochs: what a resumed run needs besides the model's weights. */
export interface TrainState {
  phase: EpochRecord['phase'];
  /** Epochs completed. */
  epoch: number;
  history: EpochRecord[];
  best: EpochRecord | null;
  /** The current weights and buffers (host copies, in `model.stateDict()` order). */
  weights: Float32Array[];
  /** The weights and buffers of the best epoch so far, in the same order. */
  bestState: Float32Array[] | null;
  sinceBest: number;
  optimizer: AdamState;
  /** The random streams: batch order, flips, and (size training) the estimator's samples. */
  rngs: Record<string, RngState>;
  /** The joint objective's stream of annotated batches (sizetrain with `joint` only). */
  annotatedBatches?: AnnotatedBatchesState;
  /** What must not change between the interrupted and the resumed run (`joint`: the joint objective's settings). */
  fingerprint: { trainImages: number; batch: number; seed: number; joint?: { annotated: number; lambda: number } };
}

export interface TrainResult {
  history: EpochRecord[];
  best: EpochRecord | null;
  stoppedEarly: boolean;
  interrupted: boolean;
}

/** `x` on the model's backend: uploaded when the model lives on a device, as it is otherwise. */
function onModelBackend(model: Module, x: Tensor): Tensor {
  const backend = model.backend;
  if (backend === 'cpu') return x;
  if (backend === 'mixed')
    throw new Error(
      "the model's parameters live on different backends; move it with model.to('gpu') or await model.toHost().",
    );
  return backendInstance(backend).upload(x);
}

/**
 * The model's logits for `x`, as a host tensor on the tape: on a device backend the network runs there
 * and the logits are read back once (`toHost`, whose backward uploads the gradient), because the losses —
 * BCE, and the size loss that samples masks from the logits — run on the host.
 */
export async function forwardToHost(model: Module, x: Tensor): Promise<Tensor> {
  const logits = model.forward(onModelBackend(model, x));
  return logits.device ? toHost(logits) : logits;
}

/** Host copies of the model's weights and buffers, in `stateDict()` order (read back from a device). */
export async function hostWeights(model: Module): Promise<Float32Array[]> {
  const state = model.backend === 'cpu' ? model.stateDict() : await model.hostStateDict();
  return [...state.values()].map((t) => Float32Array.from(t.values()));
}

/** Logits for the given images, in eval mode, batch by batch (the model's mode is restored). */
export async function predictLogits(
  model: Module,
  ds: SegDataset,
  indices: readonly number[],
  batch = 32,
): Promise<Float32Array> {
  const V = ds.height * ds.width;
  const out = new Float32Array(indices.length * V);
  const wasTraining = model.training;
  model.eval();
  try {
    for (let s = 0; s < indices.length; s += batch) {
      const b = makeBatch(ds, indices.slice(s, s + batch));
      const x = new Tensor(b.images, [b.batch, 1, ds.height, ds.width]);
      if (model.backend === 'cpu') {
        scope(() => out.set(noGrad(() => model.forward(x)).values(), s * V));
        continue;
      }
      const logits = noGrad(() => model.forward(onModelBackend(model, x)));
      out.set(logits.device ? await logits.data() : logits.values(), s * V);
    }
  } finally {
    model.train(wasTraining);
  }
  return out;
}

/** E, IoU and Dice of the thresholded predictions on `indices`. */
export async function evaluate(
  model: Module,
  ds: SegDataset,
  indices: readonly number[],
  batch = 32,
): Promise<SegMetrics> {
  const V = ds.height * ds.width;
  const logits = await predictLogits(model, ds, indices, batch);
  const acc = new MetricAccumulator();
  const truth = new Uint8Array(indices.length * V);
  const sizes = new Float64Array(indices.length);
  indices.forEach((n, i) => {
    truth.set(ds.masks.subarray(n * V, (n + 1) * V), i * V);
    sizes[i] = ds.sizes[n] as number;
  });
  acc.add(truth, thresholdLogits(logits), sizes, ds.height, ds.width);
  return acc.result();
}

type StepLoss = (model: Module, batch: ReturnType<typeof makeBatch>, x: Tensor) => Promise<Tensor>;

/** The shared loop: epochs of shuffled batches, Adam, validation, patience, best-weights restore. */
async function fit(
  phase: EpochRecord['phase'],
  model: Module,
  ds: SegDataset,
  trainIndices: readonly number[],
  options: TrainOptions,
  stepLoss: StepLoss,
  score: (m: SegMetrics) => number, // higher is better
  flips: boolean,
  streams: Record<string, Rng> = {}, // further random streams of the step (saved and restored with the run)
  joint?: { annotated: number; lambda: number; stream: AnnotatedBatches }, // sizetrain's joint objective
): Promise<TrainResult> {
  if (trainIndices.length === 0) throw new Error(`${phase}: no training images; check --m and the dataset split.`);
  if (options.valIndices.length === 0)
    throw new Error(`${phase}: no validation images; the dataset's val split is empty.`);
  const fingerprint: TrainState['fingerprint'] = {
    trainImages: trainIndices.length,
    batch: options.batch,
    seed: options.seed,
    ...(joint ? { joint: { annotated: joint.annotated, lambda: joint.lambda } } : {}),
  };
  const resume = options.resume;
  if (resume) checkResumable(phase, resume, fingerprint, Object.keys(streams));
  const rng = resume ? Rng.fromState(resume.rngs.batches!) : new Rng(options.seed);
  const flipRng = resume ? Rng.fromState(resume.rngs.flips!) : rng.fork();
  if (resume) for (const name of Object.keys(streams)) streams[name] = Rng.fromState(resume.rngs[name]!);
  const optimizer = new Adam(model.parameters(), { lr: options.lr });
  if (resume) optimizer.loadStateDict(resume.optimizer);
  const history: EpochRecord[] = resume ? [...resume.history] : [];
  let best: EpochRecord | null = resume?.best ?? null;
  let bestState: Float32Array[] | null = resume?.bestState ?? null;
  let sinceBest = resume?.sinceBest ?? 0;
  let interrupted = false;
  const steps = Math.ceil(trainIndices.length / options.batch);
  for (let epoch = (resume?.epoch ?? 0) + 1; epoch <= options.epochs; epoch++) {
    if (sinceBest >= options.patience) break; // a resumed run that had already stopped early
    const t0 = performance.now();
    model.train();
    let lossSum = 0;
    let step = 0;
    // drop a final batch of one image: batch norm cannot normalise over a single 1×… sample reliably
    for (const b of batchIterator(ds, trainIndices, options.batch, rng, flips ? { flip: flipRng } : {})) {
      if (b.batch < 2 && steps > 1) continue;
      const x = new Tensor(b.images, [b.batch, 1, ds.height, ds.width]);
      const { loss: value } = await trainStep(
        optimizer,
        () => stepLoss(model, b, x),
        (v) =>
          new Error(
            `${phase}: the loss became ${v} at epoch ${epoch}, step ${step + 1}; lower the learning rate (--lr) or check the data.`,
          ),
      );
      lossSum += value;
      step++;
      options.observer?.onStep?.({ phase, epoch, step, steps, loss: value });
      await yieldToEventLoop();
      await options.observer?.pause?.();
      if (options.observer?.shouldStop?.()) {
        interrupted = true;
        break;
      }
    }
    if (interrupted) break;
    const val = await evaluate(model, ds, options.valIndices, Math.max(options.batch, 32));
    const improved = best === null || score(val) > score(best.val);
    const record: EpochRecord = {
      phase,
      epoch,
      trainLoss: lossSum / Math.max(1, step),
      val,
      seconds: (performance.now() - t0) / 1000,
      best: improved,
    };
    history.push(record);
    // host copies (device reads on a GPU) only where they are used: the best weights, and a saved state
    const weights = improved || options.onState ? await hostWeights(model) : null;
    if (improved) {
      best = record;
      bestState = weights;
      sinceBest = 0;
    } else {
      sinceBest++;
    }
    if (options.onState) {
      options.onState({
        phase,
        epoch,
        history: [...history],
        weights: weights!,
        best,
        bestState,
        sinceBest,
        optimizer: await optimizer.hostStateDict(),
        rngs: {
          batches: rng.getState(),
          flips: flipRng.getState(),
          ...Object.fromEntries(Object.entries(streams).map(([k, r]) => [k, r.getState()])),
        },
        ...(joint ? { annotatedBatches: joint.stream.getState() } : {}),
        fingerprint,
      });
    }
    options.observer?.onEpoch?.(record);
  }
  if (bestState) {
    // loadStateDict copies into the existing tensors (host storage or a new device version), so the
    // optimiser and any caller holding the parameters see the best weights
    const entries = [...model.stateDict()];
    model.loadStateDict(new Map(entries.map(([name, t], i) => [name, new Tensor(bestState![i]!, t.shape)])));
  }
  return { history, best, stoppedEarly: history.length < options.epochs && !interrupted, interrupted };
}

export interface PretrainOptions extends TrainOptions {
  /** Indices of the pixel-annotated training images. */
  annotated: readonly number[];
  /**
   * With few annotated images an epoch would be one or two steps, and validation would dominate the time.
   * An epoch therefore passes over the annotated set as many times as needed to see at least this many
   * images (default 0: once). Each pass is shuffled and flipped anew.
   */
  minImagesPerEpoch?: number;
}

/** Supervised pre-training with BCE-with-logits (paper eq. 6) and random flips; selects on validation IoU. */
export function pretrain(model: Module, ds: SegDataset, options: PretrainOptions): Promise<TrainResult> {
  const V = ds.height * ds.width;
  const passes = Math.max(1, Math.ceil((options.minImagesPerEpoch ?? 0) / Math.max(1, options.annotated.length)));
  const epochIndices = Array.from({ length: passes }, () => options.annotated).flat();
  return fit(
    'pretrain',
    model,
    ds,
    epochIndices,
    options,
    async (m, b, x) => {
      const target = new Float32Array(b.batch * V);
      for (let i = 0; i < target.length; i++) target[i] = b.masks[i] as number;
      return bceWithLogits(await forwardToHost(m, x), new Tensor(target, x.shape));
    },
    (v) => v.iou,
    true,
  );
}

export interface SizetrainOptions extends TrainOptions {
  /** Indices of the images used with their sizes only (with `joint`: those of the size term). */
  sizeLabelled: readonly number[];
  samples: number;
  estimator: Lemma1Method;
  /**
   * The joint objective: each step BCE on a batch of these pixel-annotated images (flipped at random) + λ·(size
   * loss) on the size-labelled batch, λ = 1e-3 by default (joint.ts). The BCE term holds the pixels the size label
   * says nothing about, so the masks do not shrink at large m: the remedies study's recommended phase 2 (it gained
   * test IoU at every m at paper scale; docs/results.md). Without it, phase 2 is the paper's size loss alone.
   * Annotated images may also be size-labelled (a mask implies its size); validation images may not be annotated.
   */
  joint?: JointOptions;
}

/**
 * Size training (paper eq. 10) with the Lemma-1 estimator, or with `joint` BCE on the annotated images + λ·size;
 * selects on validation E (lower is better): validation sizes only, never a mask.
 */
export async function sizetrain(model: Module, ds: SegDataset, options: SizetrainOptions): Promise<TrainResult> {
  const streams = { sampler: new Rng(options.seed ^ 0x5eed) };
  let joint: { annotated: number; lambda: number; stream: AnnotatedBatches } | undefined;
  if (options.joint) {
    const { annotated, lambda } = checkJointOptions(options.joint, ds, options.valIndices);
    // the annotated batches fork from the sampler's first state, as in the remedies study, or continue a saved state
    const saved = options.resume?.annotatedBatches;
    const rng = saved ? streams.sampler : streams.sampler.fork();
    joint = {
      annotated: annotated.length,
      lambda,
      stream: new AnnotatedBatches(ds, annotated, options.batch, rng, saved),
    };
  }
  const sizeTerm = async (m: Module, b: ReturnType<typeof makeBatch>, x: Tensor) =>
    sizeLoss(await forwardToHost(m, x), b.sizes, {
      rng: streams.sampler,
      samples: options.samples,
      method: options.estimator,
    });
  return fit(
    'sizetrain',
    model,
    ds,
    options.sizeLabelled,
    options,
    joint
      ? async (m, b, x) => {
          // two forwards, the annotated batch first (as the experiments' jointStep): each batch has its own
          // batch-norm statistics
          const a = joint.stream.next();
          const xa = new Tensor(a.images, [a.batch, 1, a.height, a.width]);
          const bce = bceWithLogits(await forwardToHost(m, xa), maskTensor(a));
          return bce.add((await sizeTerm(m, b, x)).mul(joint.lambda));
        }
      : sizeTerm,
    (v) => -v.sizeError,
    false,
    streams,
    joint,
  );
}

function checkResumable(
  phase: string,
  state: TrainState,
  fingerprint: TrainState['fingerprint'],
  streams: string[],
): void {
  const fail = (why: string): never => {
    throw new Error(`cannot resume: ${why}.`);
  };
  if (state.phase !== phase) fail(`the saved state is from ${state.phase}, not ${phase}`);
  for (const key of ['trainImages', 'batch', 'seed'] as const) {
    if (state.fingerprint[key] !== fingerprint[key])
      fail(
        `the run used ${key} ${state.fingerprint[key]}, this one ${fingerprint[key]}; resume with the run's own settings`,
      );
  }
  const joint = (f: TrainState['fingerprint']) =>
    f.joint
      ? `the joint objective (${f.joint.annotated} annotated images, λ = ${f.joint.lambda})`
      : 'no joint objective';
  if (joint(state.fingerprint) !== joint(fingerprint))
    fail(
      `the run used ${joint(state.fingerprint)}, this one ${joint(fingerprint)}; resume with the run's own settings`,
    );
  for (const name of ['batches', 'flips', ...streams])
    if (!state.rngs[name]) fail(`the saved state lacks the random stream '${name}'`);
}
