/**
 * The 'js' backend: the readable reference kernels, on host memory, for float32 and float64. Registered
 * as a kernel backend of the engine and, kernel by kernel, in the registry; each entry only unpacks its
 * inputs for the typed-array functions of this folder, where the numerics live.
 */
import { allocHost, registerKernelBackend } from '../engine.js';
import { registerKernel } from '../registry.js';
import { host, type KernelAttrs, type KernelFunc, type KernelInput } from '../types.js';
import { batchNorm2dBackward, batchNorm2dEvalBackward, batchNorm2dForward } from './batchNorm2d.js';
import { conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, type Shape4 } from './conv2d.js';
import { add, relu, reluBackward } from './elementwise.js';
import { gemm } from './gemm.js';
import { adamUpdate, sgdUpdate, type AdamHyper, type SgdHyper } from './optimizers.js';
import { upsampleNearest2xBackward, upsampleNearest2xForward } from './upsample.js';

const shape4 = (s: readonly number[]): Shape4 => [...s] as Shape4;
const conv = (attrs: KernelAttrs) => ({ stride: attrs.stride as number, padding: attrs.padding as number });
const vals = (t: KernelInput | undefined) => t!.values();

const kernels: Record<string, KernelFunc> = {
  Conv2D: ([x, w, b], attrs) => {
    const { out, outShape } = conv2dForward(
      vals(x),
      shape4(x!.shape),
      vals(w),
      shape4(w!.shape),
      b ? b.values() : null,
      conv(attrs),
    );
    return [host(out, outShape)];
  },
  Conv2DBackpropInput: ([dy, w], attrs) => {
    const xShape = shape4(attrs.xShape as number[]);
    return [
      host(conv2dBackwardInput(vals(dy), shape4(dy!.shape), vals(w), shape4(w!.shape), xShape, conv(attrs)), xShape),
    ];
  },
  Conv2DBackpropFilter: ([dy, x], attrs) => {
    const wShape = shape4(attrs.wShape as number[]);
    return [
      host(conv2dBackwardWeight(vals(dy), shape4(dy!.shape), vals(x), shape4(x!.shape), wShape, conv(attrs)), wShape),
    ];
  },
  Conv2DBackpropBias: ([dy]) => [host(conv2dBackwardBias(vals(dy), shape4(dy!.shape)), [dy!.shape[1] as number])],
  BatchNorm2D: ([x, gamma, beta, runningMean, runningVar], attrs) => {
    // running statistics are buffers updated in place: their own storage, not a copy
    const opts = {
      training: attrs.training as boolean,
      eps: attrs.eps as number,
      momentum: attrs.momentum as number,
      runningMean: vals(runningMean),
      runningVar: vals(runningVar),
    };
    const { out, mean, invStd } = batchNorm2dForward(vals(x), shape4(x!.shape), vals(gamma), vals(beta), opts);
    const C = [x!.shape[1] as number];
    return [host(out, x!.shape), host(mean, C), host(invStd, C)];
  },
  BatchNorm2DBackward: ([dy, x, gamma, mean, invStd]) => {
    const { dx, dgamma, dbeta } = batchNorm2dBackward(
      vals(dy),
      vals(x),
      shape4(x!.shape),
      vals(gamma),
      vals(mean),
      vals(invStd),
    );
    const C = [x!.shape[1] as number];
    return [host(dx, x!.shape), host(dgamma, C), host(dbeta, C)];
  },
  BatchNorm2DEvalBackward: ([dy, x, gamma, mean, invStd]) => {
    const { dx, dgamma, dbeta } = batchNorm2dEvalBackward(
      vals(dy),
      vals(x),
      shape4(x!.shape),
      vals(gamma),
      vals(mean),
      vals(invStd),
    );
    const C = [x!.shape[1] as number];
    return [host(dx, x!.shape), host(dgamma, C), host(dbeta, C)];
  },
  UpsampleNearest2x: ([x]) => {
    const { out, outShape } = upsampleNearest2xForward(vals(x), shape4(x!.shape));
    return [host(out, outShape)];
  },
  UpsampleNearest2xBackward: ([dy]) => {
    const [N, C, H, W] = shape4(dy!.shape);
    const xShape: Shape4 = [N, C, H / 2, W / 2];
    return [host(upsampleNearest2xBackward(vals(dy), xShape), xShape)];
  },
  Relu: ([x]) => [host(relu(vals(x)), x!.shape)],
  ReluBackward: ([dy, x]) => [host(reluBackward(vals(dy), vals(x)), dy!.shape)],
  Add: ([a, b]) => [host(add(vals(a), vals(b)), a!.shape)],
  BatchMatMul: ([a, b]) => {
    // a [count, M, K] @ b [count, K, N] → [count, M, N]
    const [count, M, K] = a!.shape as [number, number, number];
    const N = b!.shape[2] as number;
    const av = vals(a),
      bv = vals(b);
    const out = allocHost(av instanceof Float64Array ? 'float64' : 'float32', count * M * N, true);
    for (let i = 0; i < count; i++)
      gemm(false, false, M, N, K, av, i * M * K, K, bv, i * K * N, N, out, i * M * N, N, false);
    return [host(out, [count, M, N])];
  },
  AdamUpdate: (inputs, attrs) => {
    // groups of [w, grad, m, v], updated in place
    for (let k = 0; k + 3 < inputs.length; k += 4)
      adamUpdate(
        vals(inputs[k]),
        vals(inputs[k + 1]),
        vals(inputs[k + 2]),
        vals(inputs[k + 3]),
        attrs as unknown as AdamHyper,
      );
    return [];
  },
  SgdUpdate: ([w, g, v], attrs) => {
    sgdUpdate(vals(w), vals(g), v ? v.values() : null, attrs as unknown as SgdHyper);
    return [];
  },
};

let registered = false;

/** Registers the 'js' backend and its kernels (idempotent). */
export function registerJsBackend(): void {
  if (registered) return;
  registered = true;
  registerKernelBackend({
    name: 'js',
    device: 'cpu',
    dtypes: ['float32', 'float64'],
    fallback: null,
    priority: 1,
    unavailableReason: () => null,
    info: () => ({ kernels: 'js', what: 'readable JavaScript loops (src/kernels/js), float32 and float64' }),
  });
  for (const [kernelName, kernelFunc] of Object.entries(kernels))
    registerKernel({ kernelName, backendName: 'js', kernelFunc });
}

registerJsBackend();
