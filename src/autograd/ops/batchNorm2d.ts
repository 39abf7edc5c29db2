/**
 * Batch normalisation over N, H, W per channel. Training mode normalises with the batch statistics
 * (biased variance) and updates the running averages in place (unbiased variance, as PyTorch does);
 * eval mode uses the running averages, so it is an affine map per channel.
 */
import { allocate } from '../dtype.js';
import { record } from '../engine.js';
import { formatShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { runKernel } from '../../kernels/registry.js';
import '../../kernels/cpu/register.js'; // the CPU kernels are always available
import { sameBackend } from './transfer.js';
import { relu } from './elementwise.js';
import { useWasm } from '../../kernels/wasm/index.js';
import { elementwiseWasm } from '../../kernels/wasm/elementwise.js';

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
 * relu(batchNorm2d(x, …)) as one op: on the WebAssembly kernels (float32 host tensors) the normalising
 * pass also applies the ReLU, and the backward masks the gradient with the output (y > 0 exactly where
 * relu(y) > 0) inside the batch-norm backward, saving two passes over the activations and two tensors.
 * Elsewhere it is the composition of the two ops. Same values either way.
 */
export function batchNorm2dRelu(x: Tensor, gamma: Tensor, beta: Tensor, options: BatchNorm2dOptions): Tensor {
  if (x.device || x.dtype !== 'float32' || !useWasm(x.storage)) return relu(batchNorm2d(x, gamma, beta, options));
  return batchNorm2dImpl(x, gamma, beta, options, true);
}

function batchNorm2dImpl(x: Tensor, gamma: Tensor, beta: Tensor, options: BatchNorm2dOptions, fusedRelu: boolean): Tensor {
  const { training, runningMean, runningVar, momentum = 0.1, eps = 1e-5 } = options;
  const C = x.shape[1] as number;
  const where = `batchNorm2d(x ${formatShape(x.shape)})`;
  if (x.rank !== 4) throw new Error(`${where}: x must be NCHW (rank 4).`);
  for (const [name, t] of [['gamma', gamma], ['beta', beta], ['runningMean', runningMean], ['runningVar', runningVar]] as const) {
    if (t.rank !== 1 || t.shape[0] !== C) throw new Error(`${where}: ${name} must have shape [${C}], got ${formatShape(t.shape)}.`);
  }
  if (training && (x.shape[0] as number) * (x.shape[2] as number) * (x.shape[3] as number) < 2) {
    throw new Error(`${where}: training-mode batch norm needs more than one value per channel; use a larger batch or model.eval().`);
  }
  sameBackend(where, [x, gamma, beta, runningMean, runningVar]);
  const attrs = fusedRelu ? { training, momentum, eps, relu: true } : { training, momentum, eps };
  const [out, mean, invStd] = runKernel('BatchNorm2D', [x, gamma, beta, runningMean, runningVar], attrs) as [Tensor, Tensor, Tensor];
  return record(out, fusedRelu ? 'batchNorm2dRelu' : 'batchNorm2d', [x, gamma, beta], (upstream) => {
    if (training) {
      // fused: the kernel masks the upstream gradient with the output (the ReLU's backward) itself
      const inputs = fusedRelu ? [upstream, x, gamma, mean, invStd, out] : [upstream, x, gamma, mean, invStd];
      const [dx, dgamma, dbeta] = runKernel('BatchNorm2DBackward', inputs) as [Tensor, Tensor, Tensor];
      return [dx, dgamma, dbeta];
    }
    // the ReLU's gradient: pass where the output is positive
    const g = fusedRelu ? new Tensor(elementwiseWasm('reluBackward', upstream.values() as Float32Array, out.values() as Float32Array), out.shape) : upstream;
    // eval mode on a device: the backend's kernel (the host loop below would read device storage)
    if (g.device) return runKernel('BatchNorm2DEvalBackward', [g, x, gamma, mean, invStd]);
    return evalBackward(g, x, gamma, mean, invStd);
  });
}

/** Eval mode is y = γ·(x − μ)·s + β per channel with constants μ, s: dx = g·γ·s, dγ = Σ g·(x − μ)·s, dβ = Σ g. */
function evalBackward(g: Tensor, x: Tensor, gamma: Tensor, mean: Tensor, invStd: Tensor): Tensor[] {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const gv = g.values(), xv = x.values(), gm = gamma.values(), mu = mean.values(), s = invStd.values();
  const dx = allocate(x.dtype, xv.length);
  const dgamma = allocate(x.dtype, C);
  const dbeta = allocate(x.dtype, C);
  const plane = H * W;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const scale = (gm[c] as number) * (s[c] as number);
      let sg = 0, sgx = 0;
      for (let i = 0, k = (n * C + c) * plane; i < plane; i++, k++) {
        const gk = gv[k] as number;
        dx[k] = gk * scale;
        sg += gk;
        sgx += gk * ((xv[k] as number) - (mu[c] as number));
      }
      dbeta[c] = (dbeta[c] as number) + sg;
      dgamma[c] = (dgamma[c] as number) + sgx * (s[c] as number);
    }
  }
  return [new Tensor(dx, x.shape), new Tensor(dgamma, [C]), new Tensor(dbeta, [C])];
}
