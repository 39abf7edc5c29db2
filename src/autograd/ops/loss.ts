/** Losses, each fused into one op so that forward and gradient stay stable at extreme logits. */
import { allocate } from '../dtype.js';
import { record } from '../engine.js';
import { formatShape, shapesEqual } from '../shape.js';
import { Tensor } from '../tensor.js';

export type Reduction = 'mean' | 'sum' | 'none';

function checkPair(op: string, a: Tensor, t: Tensor): void {
  if (a.device || t.device) {
    throw new Error(
      `${op}: losses are computed on the host, but ${a.device ? `the input ${a}` : `the target ${t}`} lives on the '${(a.device ?? t.device)!.backend}' backend; ` +
        `read device logits with const host = await toHost(logits) (differentiable: the gradient goes back to the device) and keep targets on the host.`,
    );
  }
  if (!shapesEqual(a.shape, t.shape)) {
    throw new Error(
      `${op}: input ${formatShape(a.shape)} and target ${formatShape(t.shape)} must have the same shape; reshape the target to ${formatShape(a.shape)}.`,
    );
  }
  if (a.dtype !== t.dtype)
    throw new Error(`${op}: dtype mismatch (${a.dtype} input, ${t.dtype} target); use target.to('${a.dtype}').`);
}

function reduce(
  op: string,
  perElement: Float32Array | Float64Array,
  shape: readonly number[],
  reduction: Reduction,
  dtype: Tensor['dtype'],
): Tensor {
  if (reduction === 'none') return new Tensor(perElement, shape);
  let s = 0;
  for (let i = 0; i < perElement.length; i++) s += perElement[i] as number;
  const out = allocate(dtype, 1);
  out[0] = reduction === 'mean' ? s / perElement.length : s;
  if (reduction !== 'mean' && reduction !== 'sum')
    throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'.`);
  return new Tensor(out, []);
}

/**
 * Binary cross-entropy on logits a with targets t ∈ [0, 1] (paper eq. 6):
 * ℓ = softplus(a) − a·t = max(a, 0) − a·t + log1p(e^−|a|), which is exact and finite for any finite a (tested to |a| = 1e4).
 * dℓ/da = σ(a) − t, and dℓ/dt = −a (soft targets may carry gradients, as in PyTorch).
 */
export function bceWithLogits(logits: Tensor, targets: Tensor, options: { reduction?: Reduction } = {}): Tensor {
  const reduction = options.reduction ?? 'mean';
  checkPair('bceWithLogits', logits, targets);
  const a = logits.values();
  const t = targets.values();
  const per = allocate(logits.dtype, a.length);
  // σ(a) for the backward, from the same e^−|a| as the softplus: stableSigmoid's value, one exp fewer
  const sigmoid = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = t[i] as number;
    if (!Number.isFinite(x))
      throw new Error(
        `bceWithLogits: logit ${i} is ${x}; the network produced a non-finite value (lower the learning rate or check the input data).`,
      );
    if (!(y >= 0 && y <= 1))
      throw new Error(`bceWithLogits: target ${i} is ${y}; targets must be probabilities in [0, 1] (masks as 0/1).`);
    const e = Math.exp(-Math.abs(x));
    per[i] = (x > 0 ? x : 0) + Math.log1p(e) - x * y; // stableSoftplus(x) − x·y
    sigmoid[i] = x >= 0 ? 1 / (1 + e) : e / (1 + e); // stableSigmoid(x)
  }
  const out = reduce('bceWithLogits', per, logits.shape, reduction, logits.dtype);
  return record(out, 'bceWithLogits', [logits, targets], (g) => {
    const scale = reduction === 'mean' ? 1 / a.length : 1;
    const gv = g.values();
    const grad = allocate(logits.dtype, a.length);
    const gradTargets = targets.requiresGrad ? allocate(logits.dtype, a.length) : null;
    for (let i = 0; i < a.length; i++) {
      const up = (reduction === 'none' ? (gv[i] as number) : (gv[0] as number)) * scale;
      grad[i] = ((sigmoid[i] as number) - (t[i] as number)) * up;
      if (gradTargets) gradTargets[i] = -(a[i] as number) * up;
    }
    return [new Tensor(grad, logits.shape), gradTargets && new Tensor(gradTargets, targets.shape)];
  });
}

/** Mean squared error (or sum / per element). */
export function mse(input: Tensor, target: Tensor, options: { reduction?: Reduction } = {}): Tensor {
  const reduction = options.reduction ?? 'mean';
  checkPair('mse', input, target);
  const a = input.values();
  const t = target.values();
  const per = allocate(input.dtype, a.length);
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (t[i] as number);
    per[i] = d * d;
  }
  const out = reduce('mse', per, input.shape, reduction, input.dtype);
  return record(out, 'mse', [input, target], (g) => {
    const scale = reduction === 'mean' ? 2 / a.length : 2;
    const gv = g.values();
    const grad = allocate(input.dtype, a.length);
    for (let i = 0; i < a.length; i++) {
      const up = reduction === 'none' ? (gv[i] as number) : (gv[0] as number);
      grad[i] = ((a[i] as number) - (t[i] as number)) * scale * up;
    }
    const gi = new Tensor(grad, input.shape);
    return [gi, gi.neg()];
  });
}
