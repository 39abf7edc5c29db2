/** CPU numeric kernels over typed arrays (no tensor class): GEMM, conv2d, batch norm, upsampling. */
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
