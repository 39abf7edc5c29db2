/**
 * GPU.js's webgpu (and webasm) modes compute indices in float32: the WGSL translator declares
 * integer-valued locals as f32, so index arithmetic is exact only up to 2^24. A tensor with more
 * elements would be read at wrong addresses without any error, so the gpu backend refuses it.
 * The same limit applies in the cpu emulation mode, so tests and CI see what the device would do.
 */
import { formatShape } from '../../autograd/shape.js';

export const MAX_GPU_ELEMENTS = 2 ** 24; // 16,777,216

export function checkGpuSize(shape: readonly number[], what: string): number {
  let n = 1;
  for (const d of shape) n *= d;
  if (n > MAX_GPU_ELEMENTS) {
    const batch = shape.length === 4 ? shape[0] : undefined;
    const fit = batch !== undefined && batch > 1 ? Math.max(1, Math.floor((MAX_GPU_ELEMENTS * batch) / n)) : undefined;
    throw new Error(
      `gpu backend: ${what} of shape ${formatShape(shape)} has ${n} elements, over the limit of 2^24 = ${MAX_GPU_ELEMENTS} ` +
        `(GPU.js's webgpu mode indexes in float32, so larger tensors would be read at wrong addresses). ` +
        (fit !== undefined
          ? `Use a smaller batch (at most ${fit} for this layer) `
          : 'Use a smaller batch or smaller tensors ') +
        `or the 'cpu' backend.`,
    );
  }
  if (n === 0) {
    throw new Error(
      `gpu backend: ${what} of shape ${formatShape(shape)} is empty; the gpu backend does not run kernels on empty tensors.`,
    );
  }
  return n;
}
