/**
 * Batch normalisation over N, H, W per channel. Training mode normalises with the batch statistics
 * (biased variance) and updates the running averages in place (unbiased variance, as PyTorch does);
 * eval mode uses the running averages, so it is an affine map per channel.
 */
import { record } from '../engine.js';
import { hasKernel, runKernel } from '../kernel.js';
import { formatShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { sameBackend } from './transfer.js';
import { relu } from './elementwise.js';

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

function batchNorm2dImpl(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  options: BatchNorm2dOptions,
  fusedRelu: boolean,
): Tensor {
  const { training, runningMean, runningVar, momentum = 0.1, eps = 1e-5 } = options;
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
