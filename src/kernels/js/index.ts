/**
 * The 'js' backend's numeric kernels over typed arrays (no tensor class): GEMM, 2-D convolution (forward,
 * input / weight / bias gradients), batch norm, nearest ×2 upsampling, elementwise passes, optimiser updates.
 * NCHW layout, row-major matrices; outputs have the input's dtype (float32 or float64); sums in float64.
 * One thread, plain loops: the readable reference next to the maths.
 */
export type { F } from './gemm.js';
export { gemm } from './gemm.js';
export {
  conv2dForward,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  conv2dBackwardBias,
  conv2dOutputShape,
} from './conv2d.js';
export type { Shape4, Conv2dOptions } from './conv2d.js';
export { batchNorm2dForward, batchNorm2dBackward, batchNorm2dEvalBackward } from './batchNorm2d.js';
export type { BatchNorm2dOptions, BatchNorm2dForwardResult } from './batchNorm2d.js';
export { upsampleNearest2xForward, upsampleNearest2xBackward } from './upsample.js';
