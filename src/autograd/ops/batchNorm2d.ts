/**
 * Batch normalisation over N, H, W per channel. Training mode normalises with the batch statistics
 * (biased variance) and updates the running averages in place (unbiased variance, as PyTorch does);
 * eval mode uses the running averages, so it is an affine map per channel.
 */
import { record } from '../engine.js';
import { hasKernel, runKernel } from '../kernel.js';
import { formatShape, shapesEqual } from '../shape.js';
import { Tensor } from '../tensor.js';
import { sameBackend } from './transfer.js';
import { addRelu, relu } from './elementwise.js';

export interface BatchNorm2dOptions {
  training: boolean;
  runningMean: Tensor;
  runningVar: Tensor;
  momentum?: number;
  eps?: number;
}

export function batchNorm2d(x: Tensor, gamma: Tensor, beta: Tensor, options: BatchNorm2dOptions): Tensor {
  return batchNorm2dImpl(x, gamma, beta, options, false);
}

/**
 * relu(batchNorm2d(x, …)) as one op where the backend has the fused kernels ('BatchNorm2DRelu' and its
 * backward): the normalising pass also applies the ReLU, and the backward masks the gradient with the
 * output (y > 0 exactly where relu(y) > 0) inside the batch-norm backward, saving two passes over the
 * activations and two tensors. Elsewhere it is the composition of the two ops. Same values either way.
 */
export function batchNorm2dRelu(x: Tensor, gamma: Tensor, beta: Tensor, options: BatchNorm2dOptions): Tensor {
  // a backend with 'BatchNorm2DRelu' has its backward, 'BatchNorm2DReluBackward', too (src/kernels/kernelNames.ts)
  if (!hasKernel('BatchNorm2DRelu', [x, gamma, beta, options.runningMean, options.runningVar]))
    return relu(batchNorm2d(x, gamma, beta, options));
  return batchNorm2dImpl(x, gamma, beta, options, true);
}

/** Checks the shapes of one batch norm's operands; the error names the op and the fix. */
function checkBatchNorm(x: Tensor, gamma: Tensor, beta: Tensor, options: BatchNorm2dOptions): void {
  const { training, runningMean, runningVar } = options;
  const C = x.shape[1] as number;
  const where = `batchNorm2d(x ${formatShape(x.shape)})`;
  if (x.rank !== 4) throw new Error(`${where}: x must be NCHW (rank 4).`);
  for (const [name, t] of [
    ['gamma', gamma],
    ['beta', beta],
    ['runningMean', runningMean],
    ['runningVar', runningVar],
  ] as const) {
    if (t.rank !== 1 || t.shape[0] !== C)
      throw new Error(`${where}: ${name} must have shape [${C}], got ${formatShape(t.shape)}.`);
  }
  if (training && (x.shape[0] as number) * (x.shape[2] as number) * (x.shape[3] as number) < 2) {
    throw new Error(
      `${where}: training-mode batch norm needs more than one value per channel; use a larger batch or model.eval().`,
    );
  }
  sameBackend(where, [x, gamma, beta, runningMean, runningVar]);
}

/** The gradients [dx, dgamma, dbeta] of one batch norm for the upstream gradient g. */
function batchNormBackward(g: Tensor, x: Tensor, gamma: Tensor, mean: Tensor, invStd: Tensor, training: boolean) {
  // eval mode: the running statistics are constants, an affine map per channel
  return runKernel(training ? 'BatchNorm2DBackward' : 'BatchNorm2DEvalBackward', [g, x, gamma, mean, invStd]);
}

function batchNorm2dImpl(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  options: BatchNorm2dOptions,
  fusedRelu: boolean,
): Tensor {
  const { training, runningMean, runningVar, momentum = 0.1, eps = 1e-5 } = options;
  checkBatchNorm(x, gamma, beta, options);
  const attrs = { training, momentum, eps };
  const [out, mean, invStd] = runKernel(
    fusedRelu ? 'BatchNorm2DRelu' : 'BatchNorm2D',
    [x, gamma, beta, runningMean, runningVar],
    attrs,
  ) as [Tensor, Tensor, Tensor];
  return record(out, fusedRelu ? 'batchNorm2dRelu' : 'batchNorm2d', [x, gamma, beta], (upstream) => {
    if (training) {
      // fused: the kernel masks the upstream gradient with the output (the ReLU's backward) itself
      return fusedRelu
        ? runKernel('BatchNorm2DReluBackward', [upstream, x, gamma, mean, invStd, out])
        : runKernel('BatchNorm2DBackward', [upstream, x, gamma, mean, invStd]);
    }
    // the ReLU's gradient: pass where the output is positive
    const g = fusedRelu ? (runKernel('ReluBackward', [upstream, out])[0] as Tensor) : upstream;
    // eval mode: the running statistics are constants, an affine map per channel
    return runKernel('BatchNorm2DEvalBackward', [g, x, gamma, mean, invStd]);
  });
}

/** A projection shortcut's batch norm for batchNorm2dAddRelu: its input, parameters and options. */
export interface SkipBatchNorm {
  x: Tensor;
  gamma: Tensor;
  beta: Tensor;
  options: BatchNorm2dOptions;
}

/**
 * relu(batchNorm2d(x, …) + skip) — a residual block's output — where `skip` is a tensor (an identity
 * shortcut) or a projection shortcut's batch norm, relu(batchNorm2d(x, …) + batchNorm2d(skip.x, …)). One
 * op where the backend has the fused kernel ('BatchNorm2DAddRelu'): after the statistics, one pass
 * normalises, adds and applies the ReLU, writing only the output (the composition writes each batch
 * norm's output and reads it back). The backward is the composition's: the gradient masked once with the
 * output, then each batch norm's backward. Elsewhere it is addRelu of the batch norms. Same values either way.
 */
export function batchNorm2dAddRelu(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  options: BatchNorm2dOptions,
  skip: Tensor | SkipBatchNorm,
): Tensor {
  const sbn = skip instanceof Tensor ? null : skip;
  const skipTensor = sbn ? sbn.x : (skip as Tensor);
  const inputs = [x, gamma, beta, options.runningMean, options.runningVar, skipTensor];
  if (sbn) inputs.push(sbn.gamma, sbn.beta, sbn.options.runningMean, sbn.options.runningVar);
  const fits =
    shapesEqual(x.shape, skipTensor.shape) &&
    x.dtype === skipTensor.dtype &&
    (sbn === null || sbn.options.training === options.training) &&
    hasKernel('BatchNorm2DAddRelu', inputs);
  if (!fits) {
    const main = batchNorm2d(x, gamma, beta, options);
    return addRelu(main, sbn ? batchNorm2d(sbn.x, sbn.gamma, sbn.beta, sbn.options) : skipTensor);
  }
  checkBatchNorm(x, gamma, beta, options);
  if (sbn) checkBatchNorm(sbn.x, sbn.gamma, sbn.beta, sbn.options);
  const { training, momentum = 0.1, eps = 1e-5 } = options;
  const attrs = sbn
    ? { training, momentum, eps, skipMomentum: sbn.options.momentum ?? 0.1, skipEps: sbn.options.eps ?? 1e-5 }
    : { training, momentum, eps };
  const [out, mean, invStd, skipMean, skipInvStd] = runKernel('BatchNorm2DAddRelu', inputs, attrs) as Tensor[];
  const recorded = sbn ? [x, gamma, beta, sbn.x, sbn.gamma, sbn.beta] : [x, gamma, beta, skipTensor];
  return record(out!, 'batchNorm2dAddRelu', recorded, (upstream) => {
    // the ReLU's gradient, once, for both branches (as addRelu's backward)
    const [g] = runKernel('ReluBackward', [upstream, out!]) as [Tensor];
    const main = batchNormBackward(g, x, gamma, mean!, invStd!, training);
    if (!sbn) return [...main, g];
    return [...main, ...batchNormBackward(g, sbn.x, sbn.gamma, skipMean!, skipInvStd!, training)];
  });
}
