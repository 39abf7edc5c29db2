/**
 * CPU numeric kernels over typed arrays (no tensor class): GEMM, 2-D convolution (forward, input /
 * weight / bias gradients), batch norm, nearest ×2 upsampling. NCHW layout, row-major matrices.
 * Outputs have the input's dtype (Float32Array fast path, Float64Array for gradient checks);
 * accumulation is in float64. GEMM and convolutions use up to getNumThreads() threads
 * (default min(2, cores); SIZESEG_THREADS overrides; setNumThreads(1) forces single-threaded).
 */
export type { F } from './kernels.js';
export { gemm, gemmNaive, GEMM_THREAD_MIN_FLOPS } from './gemm.js';
export {
  conv2dForward, conv2dBackwardInput, conv2dBackwardWeight, conv2dBackwardBias, conv2dNaive, conv2dOutputShape,
  CONV_THREAD_MIN_FLOPS,
} from './conv2d.js';
export type { Shape4, Conv2dOptions } from './conv2d.js';
export { batchNorm2dForward, batchNorm2dBackward } from './batchNorm2d.js';
export type { BatchNorm2dOptions, BatchNorm2dForwardResult } from './batchNorm2d.js';
export { upsampleNearest2xForward, upsampleNearest2xBackward } from './upsample.js';
export { setNumThreads, getNumThreads, threadingDisabledReason } from './threadPool.js';
