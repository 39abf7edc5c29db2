/**
 * Registers the CPU implementations of the named kernels (see src/kernels/registry.ts). Each entry only
 * adapts tensors to the typed-array kernels of this folder; the numerics live in those files.
 */
import { Tensor } from '../../autograd/tensor.js';
import { registerKernel, type KernelFunc } from '../registry.js';
import { batchNorm2dBackward, batchNorm2dForward } from './batchNorm2d.js';
import { conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, type Shape4 } from './conv2d.js';
import { upsampleNearest2xBackward, upsampleNearest2xForward } from './upsample.js';
import { conv2dBackwardInputWasm, conv2dBackwardWeightWasm, conv2dForwardWasm, useWasm } from '../wasm/index.js';
import { batchNorm2dBackwardWasm, batchNorm2dForwardWasm } from '../wasm/batchNorm2d.js';
import { upsampleNearest2xBackwardWasm, upsampleNearest2xForwardWasm } from '../wasm/upsample.js';

const shape4 = (t: Tensor | readonly number[]): Shape4 => [...(t instanceof Tensor ? t.shape : t)] as Shape4;
const conv = (attrs: Readonly<Record<string, unknown>>) => ({ stride: attrs.stride as number, padding: attrs.padding as number });

const kernels: Record<string, KernelFunc> = {
  Conv2D: ([x, w, b], attrs) => {
    const xv = x!.values();
    // attrs.relu: the ReLU after the convolution in the same pass (inference; see conv2dInference)
    const relu = attrs.relu === true;
    if (useWasm(xv)) {
      const { out, outShape } = conv2dForwardWasm(xv, shape4(x!), w!.values() as Float32Array, shape4(w!), b ? (b.values() as Float32Array) : null, conv(attrs), relu);
      return [new Tensor(out, outShape)];
    }
    const { out, outShape } = conv2dForward(xv, shape4(x!), w!.values(), shape4(w!), b ? b.values() : null, conv(attrs));
    if (relu) for (let i = 0; i < out.length; i++) out[i] = Math.max(out[i]!, 0);
    return [new Tensor(out, outShape)];
  },
  Conv2DBackpropInput: ([dy, w], attrs) => {
    const xShape = shape4(attrs.xShape as number[]);
    const dyv = dy!.values();
    const dx = useWasm(dyv)
      ? conv2dBackwardInputWasm(dyv, shape4(dy!), w!.values() as Float32Array, shape4(w!), xShape, conv(attrs))
      : conv2dBackwardInput(dyv, shape4(dy!), w!.values(), shape4(w!), xShape, conv(attrs));
    return [new Tensor(dx, xShape)];
  },
  Conv2DBackpropFilter: ([dy, x], attrs) => {
    const wShape = shape4(attrs.wShape as number[]);
    const dyv = dy!.values();
    const dw = useWasm(dyv)
      ? conv2dBackwardWeightWasm(dyv, shape4(dy!), x!.values() as Float32Array, shape4(x!), wShape, conv(attrs))
      : conv2dBackwardWeight(dyv, shape4(dy!), x!.values(), shape4(x!), wShape, conv(attrs));
    return [new Tensor(dw, wShape)];
  },
  Conv2DBackpropBias: ([dy]) => {
    const b = conv2dBackwardBias(dy!.values(), shape4(dy!));
    return [new Tensor(b, [dy!.shape[1] as number])];
  },
  BatchNorm2D: ([x, gamma, beta, runningMean, runningVar], attrs) => {
    // running statistics are buffers updated in place: pass their own storage, not a copy
    const opts = {
      training: attrs.training as boolean,
      eps: attrs.eps as number,
      momentum: attrs.momentum as number,
      runningMean: runningMean!.values(),
      runningVar: runningVar!.values(),
    };
    const xv = x!.values();
    // attrs.relu: batch norm fused with the ReLU after it (only the WebAssembly kernels offer it; see batchNorm2dRelu)
    if (attrs.relu === true && !useWasm(xv)) throw new Error('BatchNorm2D: the fused ReLU needs the WebAssembly kernels (float32).');
    const { out, mean, invStd } = useWasm(xv)
      ? batchNorm2dForwardWasm(xv, shape4(x!), gamma!.values() as Float32Array, beta!.values() as Float32Array, opts, attrs.relu === true)
      : batchNorm2dForward(xv, shape4(x!), gamma!.values(), beta!.values(), opts);
    const C = [x!.shape[1] as number];
    return [new Tensor(out, x!.shape), new Tensor(mean, C), new Tensor(invStd, C)];
  },
  BatchNorm2DBackward: ([dy, x, gamma, mean, invStd, reluOut]) => {
    // an optional sixth input: the output of the fused batch norm + ReLU, whose mask applies to dy
    const dyv = dy!.values();
    if (reluOut !== undefined && !useWasm(dyv)) throw new Error('BatchNorm2DBackward: the fused ReLU needs the WebAssembly kernels (float32).');
    const { dx, dgamma, dbeta } = useWasm(dyv)
      ? batchNorm2dBackwardWasm(dyv, x!.values() as Float32Array, shape4(x!), gamma!.values() as Float32Array, mean!.values() as Float32Array, invStd!.values() as Float32Array, reluOut ? (reluOut.values() as Float32Array) : null)
      : batchNorm2dBackward(dyv, x!.values(), shape4(x!), gamma!.values(), mean!.values(), invStd!.values());
    const C = [x!.shape[1] as number];
    return [new Tensor(dx, x!.shape), new Tensor(dgamma, C), new Tensor(dbeta, C)];
  },
  UpsampleNearest2x: ([x]) => {
    const xv = x!.values();
    const [N, C, H, W] = shape4(x!);
    if (useWasm(xv)) return [new Tensor(upsampleNearest2xForwardWasm(xv, N * C, H, W), [N, C, 2 * H, 2 * W])];
    const { out, outShape } = upsampleNearest2xForward(xv, shape4(x!));
    return [new Tensor(out, outShape)];
  },
  UpsampleNearest2xBackward: ([dy]) => {
    const [N, C, H, W] = shape4(dy!);
    const xShape: Shape4 = [N, C, H / 2, W / 2];
    const dyv = dy!.values();
    if (useWasm(dyv) && H % 2 === 0 && W % 2 === 0) return [new Tensor(upsampleNearest2xBackwardWasm(dyv, N * C, H / 2, W / 2), xShape)];
    return [new Tensor(upsampleNearest2xBackward(dyv, xShape), xShape)];
  },
};

let registered = false;
export function registerCpuKernels(): void {
  if (registered) return;
  registered = true;
  for (const [kernelName, kernelFunc] of Object.entries(kernels)) registerKernel({ kernelName, backendName: 'cpu', kernelFunc });
}

registerCpuKernels();
