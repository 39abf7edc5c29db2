/**
 * Storage types and where new storage comes from. Allocation belongs to the host kernel backend (see
 * src/kernels/engine.ts): inside a scope the WebAssembly backend hands out memory that the scope releases,
 * otherwise storage is an ordinary typed array.
 */
import { allocHost, allocPersistent, copyHost } from '../kernels/engine.js';
import type { DType, TypedArray } from '../kernels/types.js';

export type { DType, TypedArray };

/** dst[dstIndex … dstIndex + n) = src[srcIndex … srcIndex + n). */
export function copyBlock(dst: TypedArray, dstIndex: number, src: TypedArray, srcIndex: number, n: number): void {
  copyHost(dst, dstIndex, src, srcIndex, n);
}

/** New zeroed storage for an op's result (scoped memory inside a scope, on the WebAssembly backend). */
export function allocate(dtype: DType, size: number): TypedArray {
  return allocHost(dtype, size, true);
}

/**
 * New storage for a result whose every element the caller writes (a copy, a concatenation): like
 * `allocate`, but scoped memory is not zeroed first, a pass over memory the copy would overwrite anyway
 * (concatenating the decoder's skip connections zeroed 9 MB a step for nothing). Its values before the
 * caller writes them are unspecified.
 */
export function allocateForOverwrite(dtype: DType, size: number): TypedArray {
  return allocHost(dtype, size, false);
}

/** New zeroed storage that outlives every scope (optimiser state, caches): ordinary memory. */
export function allocatePersistent(dtype: DType, size: number): TypedArray {
  return allocPersistent(dtype, size);
}

export function dtypeOf(array: TypedArray): DType {
  return array instanceof Float64Array ? 'float64' : 'float32';
}

export function isDType(value: unknown): value is DType {
  return value === 'float32' || value === 'float64';
}
