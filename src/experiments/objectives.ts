/**
 * Step objectives for the size-training phase of the experiments:
 *  - `sizeStep`: the paper's size loss with the Lemma-1 estimator (naive or fast, n samples) — the `sizeLoss` op;
 *  - `estimatorSizeLoss`: the same loss with REINFORCE (leave-one-out baseline) or straight-through gradients,
 *    as a custom op (forward: l(s, g(y)) of the first sample; backward: the estimator's ∂L/∂p chained through σ');
 *  - `jointStep`: BCE on a batch of annotated images + λ·size loss on a batch of size-labelled images, every step;
 *  - `areaStep`: size loss + λ·|Σ_i σ(a_i) − k·s²| (mean over the batch), k = mean area/s² of the annotated
 *    images (a shape prior that needs only the size label of each image and the few annotated masks).
 * Every objective gets its logits through `forwardToHost` (src/train/trainer.ts): on a device backend the network
 * runs there and the logits are read back once per forward, since all these losses run on the host; on 'cpu' it
 * is `model.forward(x)` itself.
 */
import { defineOp } from '../autograd/customOp.js';
import { bceWithLogits } from '../autograd/ops/loss.js';
import type { Rng } from '../autograd/rng.js';
import { stableSigmoid } from '../autograd/scalarMath.js';
import { Tensor } from '../autograd/tensor.js';
import type { SegDataset } from '../data/index.js';
import { reinforceGradient, straightThroughGradient } from '../estimators/baselines.js';
import type { Lemma1Method } from '../estimators/lemma1.js';
import { objectSizeUnchecked, sizeLoss as sizeLossValue } from '../estimators/objectSize.js';
import { sampleBernoulliMasks } from '../estimators/sizeLossKernel.js';
import { scaleSavedEstimate, sizeLoss } from '../estimators/sizeLossOp.js';
import type { Module } from '../models/module.js';
import { AnnotatedBatches, maskTensor } from '../train/joint.js';
import { forwardToHost } from '../train/trainer.js';
import type { StepFn } from './common.js';

// the annotated stream and the BCE targets live in src/train (sizetrain's joint option uses them too)
export { AnnotatedBatches, maskTensor, type AnnotatedBatchesState } from '../train/joint.js';

export type EstimatorName = 'lemma1' | 'reinforce' | 'straight-through';

/** Supervised BCE step (the pre-training objective; used for the supervised epoch time of Fig. 5). */
export function bceStep(model: Module): StepFn {
  return async (b, x) => {
    const loss = bceWithLogits(await forwardToHost(model, x), maskTensor(b));
    return { loss, parts: { bce: loss.item() } };
  };
}

/** The paper's size-training step: Lemma-1 size loss with n samples. */
export function sizeStep(model: Module, rng: Rng, samples: number, method: Lemma1Method = 'fast'): StepFn {
  return async (b, x) => {
    const loss = sizeLoss(await forwardToHost(model, x), b.sizes, { rng, samples, method });
    return { loss, parts: { size: loss.item() } };
  };
}

interface EstAttrs {
  targetSizes: ArrayLike<number>;
  rng: Rng;
  samples: number;
  estimator: 'reinforce' | 'straight-through';
}

const estimatorOp = defineOp<EstAttrs>({
  name: 'sizeLossEstimator',
  forward(ctx, [logits], { targetSizes, rng, samples, estimator }) {
    const [B, , H, W] = logits!.shape as [number, number, number, number];
    const V = H * W;
    const a = logits!.values();
    const grad = new Float64Array(B * V);
    const p = new Float64Array(V);
    const scratch = new Int32Array(V);
    let lossSum = 0;
    for (let b = 0; b < B; b++) {
      const s = targetSizes[b] as number;
      for (let i = 0; i < V; i++) p[i] = stableSigmoid(a[b * V + i] as number);
      const ys = sampleBernoulliMasks(p, samples, H, W, rng);
      lossSum += sizeLossValue(s, objectSizeUnchecked(ys, 0, H, W, scratch), H, W);
      const est =
        estimator === 'reinforce'
          ? reinforceGradient(ys, H, W, s, { probs: p, baseline: samples >= 2 ? 'leave-one-out' : 'none' })
          : straightThroughGradient(ys, H, W, s);
      for (let i = 0; i < V; i++) {
        const pi = p[i] as number;
        grad[b * V + i] = ((est[i] as number) * (pi * (1 - pi))) / B;
      }
    }
    ctx.save(grad, logits!.shape);
    return new Tensor(
      logits!.dtype === 'float64' ? new Float64Array([lossSum / B]) : new Float32Array([lossSum / B]),
      [],
    );
  },
  backward: scaleSavedEstimate,
});

/** The size loss (batch mean of l(s, g(y))) with the gradient of the named estimator. */
export function estimatorSizeLoss(
  logits: Tensor,
  targetSizes: ArrayLike<number>,
  o: { rng: Rng; samples: number; estimator: EstimatorName },
): Tensor {
  if (o.estimator === 'lemma1')
    return sizeLoss(logits, targetSizes, { rng: o.rng, samples: o.samples, method: 'fast' });
  return estimatorOp([logits], { targetSizes, rng: o.rng, samples: o.samples, estimator: o.estimator });
}

export function estimatorStep(model: Module, rng: Rng, samples: number, estimator: EstimatorName): StepFn {
  return async (b, x) => {
    const loss = estimatorSizeLoss(await forwardToHost(model, x), b.sizes, { rng, samples, estimator });
    return { loss, parts: { size: loss.item() } };
  };
}

/**
 * Joint objective: every step, BCE on the next annotated batch + λ·(Lemma-1 size loss) on the size-labelled batch.
 * The two batches go through the network separately (batch-norm statistics of each batch on its own).
 * `stream` defaults to a fresh stream forked from `rng` (pass a restored one to resume).
 */
export function jointStep(
  model: Module,
  ds: SegDataset,
  annotated: readonly number[],
  batch: number,
  rng: Rng,
  lambda: number,
  samples = 1,
  stream?: AnnotatedBatches,
): StepFn {
  const annotatedBatches = stream ?? new AnnotatedBatches(ds, annotated, batch, rng.fork());
  return async (b, x) => {
    const a = annotatedBatches.next();
    const xa = new Tensor(a.images, [a.batch, 1, a.height, a.width]);
    const bce = bceWithLogits(await forwardToHost(model, xa), maskTensor(a));
    const size = sizeLoss(await forwardToHost(model, x), b.sizes, { rng, samples, method: 'fast' });
    return { loss: bce.add(size.mul(lambda)), parts: { bce: bce.item(), size: size.item() } };
  };
}

/**
 * k = mean over the annotated images of area / s² (area in pixels, s = g(mask)); the expected area of an object
 * of size s is then k·s². Images with s = 0 or s = ∞ are skipped.
 */
export function areaPerSizeSquared(ds: SegDataset, annotated: readonly number[]): number {
  const V = ds.height * ds.width;
  const ratios: number[] = [];
  for (const n of annotated) {
    const s = ds.sizes[n] as number;
    if (!(s > 0) || !Number.isFinite(s)) continue;
    let area = 0;
    for (let i = n * V; i < (n + 1) * V; i++) area += ds.masks[i] as number;
    ratios.push(area / (s * s));
  }
  return ratios.length ? ratios.reduce((t, r) => t + r, 0) / ratios.length : 1;
}

/** Size loss + λ·mean_b |Σ_i σ(a_{b,i}) − k·s_b²| (soft area against the area expected from the size label). */
export function areaStep(model: Module, rng: Rng, lambda: number, k: number, samples = 1): StepFn {
  return async (b, x) => {
    const logits = await forwardToHost(model, x);
    const size = sizeLoss(logits, b.sizes, { rng, samples, method: 'fast' });
    const expected = new Float32Array(b.batch);
    for (let i = 0; i < b.batch; i++) {
      const s = b.sizes[i] as number;
      expected[i] = Number.isFinite(s) ? k * s * s : b.height * b.width;
    }
    const softArea = logits.sigmoid().sum([1, 2, 3]);
    const area = softArea
      .sub(new Tensor(expected, [b.batch]))
      .abs()
      .mean();
    return { loss: size.add(area.mul(lambda)), parts: { size: size.item(), area: area.item() } };
  };
}
