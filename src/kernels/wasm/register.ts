/**
 * The 'wasm' backend: kernels generated as WebAssembly SIMD per shape, for float32 on host memory. Calls it
 * declines — float64 (not among its dtypes), inputs too small to pay for a call — go to its fallback, the
 * 'js' reference kernels; both compute on host memory, so nothing is copied on the way. Besides the
 * kernels every backend has, it offers fused ones (AddRelu, Conv2DRelu, BatchNorm2DRelu, …): ops ask for
 * them and compose the plain kernels where a backend has none.
 */
import { getNumThreads } from './threads.js';
import { registerKernelBackend } from '../engine.js';
import { registerKernel, type KernelConfig } from '../registry.js';
import { host, type KernelAttrs, type KernelFunc, type KernelInput } from '../types.js';
import { registerJsBackend } from '../js/register.js';
import { alloc, beginScope, copy, endScope, scopeBytes, scopedMemory } from './arena.js';
import { adamStepWasm } from './adam.js';
import { batchNorm2dAddReluWasm, batchNorm2dBackwardWasm, batchNorm2dForwardWasm } from './batchNorm2d.js';
import { conv2dBackwardInputWasm, conv2dBackwardWeightWasm, conv2dForwardWasm } from './conv2d.js';
import { distanceTransformBatchWasm } from './distanceTransform.js';
import { ELEMENTWISE_WASM_MIN, elementwiseWasm } from './elementwise.js';
import { gemmWasm } from './gemm.js';
import { kernelCacheStats, wasmSimdAvailable } from './runtime.js';
import {
  conv2dBackwardInputWinograd,
  conv2dBackwardWeightWinograd,
  conv2dForwardWinograd,
  winogradForwardChosen,
  winogradInputGradChosen,
  winogradWeightGradChosen,
} from './winogradConv.js';
import { upsampleNearest2xBackwardWasm, upsampleNearest2xForwardWasm } from './upsample.js';
import { upsampleConcatBackwardWasm, upsampleConcatForwardWasm } from './upsampleConcat.js';

type Shape4 = [number, number, number, number];
const shape4 = (s: readonly number[]): Shape4 => [...s] as Shape4;
const conv = (attrs: KernelAttrs) => ({ stride: attrs.stride as number, padding: attrs.padding as number });
const f32 = (t: KernelInput | undefined) => t!.values() as Float32Array;

function convForward(relu: boolean): KernelFunc {
  return ([x, w, b], attrs) => {
    const xs = shape4(x!.shape), ws = shape4(w!.shape), opts = conv(attrs);
    // the algorithm: direct, or Winograd for 3×3 stride-1 layers where setConvAlgorithm says so (winogradConv.ts)
    const forward = winogradForwardChosen(xs, ws, opts) ? conv2dForwardWinograd : conv2dForwardWasm;
    const { out, outShape } = forward(f32(x), xs, f32(w), ws, b ? f32(b) : null, opts, relu);
    return [host(out, outShape)];
  };
}

function batchNormForward(relu: boolean): KernelFunc {
  return ([x, gamma, beta, runningMean, runningVar], attrs) => {
    // running statistics are buffers updated in place: their own storage, not a copy
    const opts = { training: attrs.training as boolean, eps: attrs.eps as number, momentum: attrs.momentum as number, runningMean: runningMean!.values(), runningVar: runningVar!.values() };
    const { out, mean, invStd } = batchNorm2dForwardWasm(f32(x), shape4(x!.shape), f32(gamma), f32(beta), opts, relu);
    const C = [x!.shape[1] as number];
    return [host(out, x!.shape), host(mean, C), host(invStd, C)];
  };
}

/** A residual block's output: [x, gamma, beta, runningMean, runningVar, skip (, the skip's gamma, beta, runningMean, runningVar)]. */
const batchNormAddRelu: KernelFunc = ([x, gamma, beta, runningMean, runningVar, skip, sGamma, sBeta, sMean, sVar], attrs) => {
  const opts = (rm: KernelInput, rv: KernelInput, momentum: unknown, eps: unknown) => ({ training: attrs.training as boolean, eps: eps as number, momentum: momentum as number, runningMean: rm.values(), runningVar: rv.values() });
  const skipBn = sGamma ? { gamma: f32(sGamma), beta: f32(sBeta), opts: opts(sMean!, sVar!, attrs.skipMomentum, attrs.skipEps) } : null;
  const r = batchNorm2dAddReluWasm(f32(x), shape4(x!.shape), f32(gamma), f32(beta), opts(runningMean!, runningVar!, attrs.momentum, attrs.eps), f32(skip), skipBn);
  const C = [x!.shape[1] as number];
  return [host(r.out, x!.shape), host(r.mean, C), host(r.invStd, C), ...(r.skipMean && r.skipInvStd ? [host(r.skipMean, C), host(r.skipInvStd, C)] : [])];
};

/** [dy, x, gamma, mean, invStd] (+ the fused ReLU's output, whose mask applies to dy) → [dx, dgamma, dbeta]. */
const batchNormBackward: KernelFunc = ([dy, x, gamma, mean, invStd, reluOut]) => {
  const { dx, dgamma, dbeta } = batchNorm2dBackwardWasm(f32(dy), f32(x), shape4(x!.shape), f32(gamma), f32(mean), f32(invStd), reluOut ? f32(reluOut) : null);
  const C = [x!.shape[1] as number];
  return [host(dx, x!.shape), host(dgamma, C), host(dbeta, C)];
};

/** Elementwise passes pay for their call from this many elements on (below, the JS loop is as fast). */
const bigEnough = (inputs: readonly KernelInput[]) => (inputs[0]?.shape.reduce((s, d) => s * d, 1) ?? 0) >= ELEMENTWISE_WASM_MIN;

const kernels: Omit<KernelConfig, 'backendName'>[] = [
  { kernelName: 'Conv2D', kernelFunc: convForward(false) },
  // inference: the ReLU after the convolution in the convolution's own pass
  { kernelName: 'Conv2DRelu', kernelFunc: convForward(true) },
  {
    kernelName: 'Conv2DBackpropInput',
    kernelFunc: ([dy, w], attrs) => {
      const xShape = shape4(attrs.xShape as number[]), ws = shape4(w!.shape), opts = conv(attrs);
      const backward = winogradInputGradChosen(xShape, ws, opts) ? conv2dBackwardInputWinograd : conv2dBackwardInputWasm;
      return [host(backward(f32(dy), shape4(dy!.shape), f32(w), ws, xShape, opts), xShape)];
    },
  },
  {
    kernelName: 'Conv2DBackpropFilter',
    kernelFunc: ([dy, x], attrs) => {
      const wShape = shape4(attrs.wShape as number[]), xs = shape4(x!.shape), opts = conv(attrs);
      const backward = winogradWeightGradChosen(xs, wShape, opts) ? conv2dBackwardWeightWinograd : conv2dBackwardWeightWasm;
      return [host(backward(f32(dy), shape4(dy!.shape), f32(x), xs, wShape, opts), wShape)];
    },
  },
  { kernelName: 'BatchNorm2D', kernelFunc: batchNormForward(false) },
  { kernelName: 'BatchNorm2DRelu', kernelFunc: batchNormForward(true) },
  { kernelName: 'BatchNorm2DAddRelu', kernelFunc: batchNormAddRelu },
  { kernelName: 'BatchNorm2DBackward', kernelFunc: batchNormBackward },
  { kernelName: 'BatchNorm2DReluBackward', kernelFunc: batchNormBackward },
  {
    kernelName: 'UpsampleNearest2x',
    kernelFunc: ([x]) => {
      const [N, C, H, W] = shape4(x!.shape);
      return [host(upsampleNearest2xForwardWasm(f32(x), N * C, H, W), [N, C, 2 * H, 2 * W])];
    },
  },
  {
    kernelName: 'UpsampleNearest2xBackward',
    accepts: ([dy]) => (dy!.shape[2] as number) % 2 === 0 && (dy!.shape[3] as number) % 2 === 0,
    kernelFunc: ([dy]) => {
      const [N, C, H, W] = shape4(dy!.shape);
      return [host(upsampleNearest2xBackwardWasm(f32(dy), N * C, H / 2, W / 2), [N, C, H / 2, W / 2])];
    },
  },
  // a decoder's input: the upsampling written straight into the concatenation (and back, in one pass)
  {
    kernelName: 'UpsampleNearest2xConcat',
    kernelFunc: ([deep, skip]) => {
      const [N, Cd, H, W] = shape4(deep!.shape);
      const Cs = skip!.shape[1] as number;
      return [host(upsampleConcatForwardWasm(f32(deep), f32(skip), { N, Cd, Cs, H, W }), [N, Cd + Cs, 2 * H, 2 * W])];
    },
  },
  {
    kernelName: 'UpsampleNearest2xConcatBackward',
    accepts: ([dy]) => (dy!.shape[2] as number) % 2 === 0 && (dy!.shape[3] as number) % 2 === 0,
    kernelFunc: ([dy], attrs) => {
      const [N, C, H2, W2] = shape4(dy!.shape);
      const Cd = attrs.deepChannels as number, H = H2 / 2, W = W2 / 2;
      const { dDeep, dSkip } = upsampleConcatBackwardWasm(f32(dy), { N, Cd, Cs: C - Cd, H, W });
      return [host(dDeep, [N, Cd, H, W]), host(dSkip, [N, C - Cd, H2, W2])];
    },
  },
  { kernelName: 'Relu', accepts: bigEnough, kernelFunc: ([x]) => [host(elementwiseWasm('relu', f32(x), null), x!.shape)] },
  { kernelName: 'ReluBackward', accepts: bigEnough, kernelFunc: ([dy, x]) => [host(elementwiseWasm('reluBackward', f32(dy), f32(x)), dy!.shape)] },
  { kernelName: 'Add', accepts: bigEnough, kernelFunc: ([a, b]) => [host(elementwiseWasm('add', f32(a), f32(b)), a!.shape)] },
  { kernelName: 'AddRelu', accepts: bigEnough, kernelFunc: ([a, b]) => [host(elementwiseWasm('addRelu', f32(a), f32(b)), a!.shape)] },
  {
    kernelName: 'BatchMatMul',
    // products below 4096 multiply-adds take the JS GEMM
    accepts: ([a, b]) => (a!.shape[1] as number) * (a!.shape[2] as number) * (b!.shape[2] as number) >= 4096,
    kernelFunc: ([a, b]) => {
      const [count, M, K] = a!.shape as [number, number, number];
      const N = b!.shape[2] as number;
      const av = f32(a), bv = f32(b);
      const out = new Float32Array(count * M * N);
      for (let i = 0; i < count; i++) out.set(gemmWasm(M, N, K, av.subarray(i * M * K, (i + 1) * M * K), bv.subarray(i * K * N, (i + 1) * K * N)), i * M * N);
      return [host(out, [count, M, N])];
    },
  },
  {
    kernelName: 'AdamUpdate',
    // bit-identical to the JS loop without weight decay (see adam.ts); with it, the JS loop runs
    accepts: (_inputs, attrs) => attrs.weightDecay === 0,
    kernelFunc: (inputs, attrs) => {
      const groups = [];
      for (let k = 0; k + 3 < inputs.length; k += 4) groups.push({ w: f32(inputs[k]), g: f32(inputs[k + 1]), m: f32(inputs[k + 2]), v: f32(inputs[k + 3]) });
      const { beta1, beta2, lr, eps, c1, c2 } = attrs as Record<string, number>;
      if (groups.length > 0) adamStepWasm(groups, { beta1: beta1!, beta2: beta2!, lr: lr!, eps: eps!, c1: c1!, c2: c2! });
      return [];
    },
  },
  {
    kernelName: 'DistanceTransformBatch',
    // four masks at a time in SIMD lanes: a single mask takes the estimator's own scalar loop
    accepts: (_inputs, attrs) => (attrs.batch as number) >= 2,
    kernelFunc: (_inputs, attrs) => {
      const { masks, batch, height, width } = attrs as { masks: Uint8Array; batch: number; height: number; width: number };
      return [host(distanceTransformBatchWasm(masks, batch, height, width), [batch, height, width])];
    },
  },
];

let registered = false;

/** Registers the 'wasm' backend and its kernels (and 'js', its fallback); idempotent. */
export function registerWasmBackend(): void {
  if (registered) return;
  registered = true;
  registerJsBackend();
  registerKernelBackend({
    name: 'wasm',
    device: 'cpu',
    dtypes: ['float32'],
    fallback: 'js',
    priority: 2,
    unavailableReason: () => (wasmSimdAvailable() ? null : 'this JavaScript engine has no WebAssembly SIMD'),
    alloc,
    copy,
    beginScope,
    endScope,
    scopedMemory,
    scopeBytes,
    numThreads: getNumThreads,
    info: () => ({ kernels: 'wasm', what: 'WebAssembly SIMD generated per shape (src/kernels/wasm), float32', scopedMemory: scopedMemory(), cache: kernelCacheStats() }),
  });
  for (const k of kernels) registerKernel({ ...k, backendName: 'wasm' });
}

registerWasmBackend();
