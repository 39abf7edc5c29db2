/**
 * The size loss as a differentiable op on logits [B, 1, H, W] (paper eq. 10 with the Lemma-1 gradient).
 *
 * Forward samples y ~ Bernoulli(σ(a)) with the given seeded generator and returns the batch mean of
 * l(s, g(y)). Because the gradient estimate needs the same samples, the forward computes it at once
 * (`sizeLossForwardBackward`) and keeps it; backward scales it by the upstream gradient:
 *   ∂L/∂a_i ≈ mean over n samples of y_i·(l(s,g(y)) − l(s,g(y↓i))) · σ(a_i)(1 − σ(a_i)) / B.
 */
import { defineOp, type OpContext } from '../autograd/customOp.js';
import type { Rng } from '../autograd/rng.js';
import { formatShape } from '../autograd/shape.js';
import { Tensor } from '../autograd/tensor.js';
import type { Lemma1Method } from './lemma1.js';
import { sizeLossForwardBackward } from './sizeLossKernel.js';

export interface SizeLossOpOptions {
  rng: Rng;
  /** Derivative samples per image (n in the paper); default 1. */
  samples?: number;
  /** Lemma-1 implementation; 'fast' (default) and 'naive' give identical numbers. */
  method?: Lemma1Method;
}

interface Attrs extends SizeLossOpOptions {
  targetSizes: ArrayLike<number>;
}

/**
 * The backward of a loss op whose forward saved its gradient estimate (`ctx.save(estimate, logitsShape)`):
 * the estimate times the upstream scalar gradient, in the upstream gradient's dtype. Shared by every
 * estimator op (Lemma 1 here; REINFORCE and straight-through in src/experiments/objectives.ts).
 */
export function scaleSavedEstimate(ctx: OpContext, grad: Tensor): Tensor[] {
  const [estimate, shape] = ctx.saved as [Float64Array, readonly number[]];
  const up = grad.item();
  const out = grad.dtype === 'float64' ? new Float64Array(estimate.length) : new Float32Array(estimate.length);
  for (let i = 0; i < estimate.length; i++) out[i] = (estimate[i] as number) * up;
  return [new Tensor(out, shape)];
}

const sizeLossOp = defineOp<Attrs>({
  name: 'sizeLoss',
  forward(ctx, [logits], { targetSizes, rng, samples, method }) {
    const [B, , H, W] = logits!.shape as [number, number, number, number];
    const result = sizeLossForwardBackward(logits!.values(), B, H, W, targetSizes, {
      rng,
      samples: samples ?? 1,
      method: method ?? 'fast',
    });
    ctx.save(result.gradLogits, logits!.shape);
    const loss = logits!.dtype === 'float64' ? new Float64Array([result.loss]) : new Float32Array([result.loss]);
    return new Tensor(loss, []);
  },
  backward: scaleSavedEstimate,
});

/** Mean stochastic size loss over the batch; differentiable w.r.t. the logits through Lemma 1. */
export function sizeLoss(logits: Tensor, targetSizes: ArrayLike<number>, options: SizeLossOpOptions): Tensor {
  if (logits.rank !== 4 || logits.shape[1] !== 1) {
    throw new Error(
      `sizeLoss: logits must have shape [B, 1, H, W], got ${formatShape(logits.shape)}; the size loss is defined for one foreground channel.`,
    );
  }
  if (targetSizes.length !== logits.shape[0]) {
    throw new Error(
      `sizeLoss: ${targetSizes.length} target sizes for a batch of ${logits.shape[0]}; pass one size per image.`,
    );
  }
  return sizeLossOp([logits], { ...options, targetSizes });
}
