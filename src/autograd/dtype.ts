/** The two storage types: float32 for speed (the default), float64 for gradient checks. */
export type DType = 'float32' | 'float64';
export type TypedArray = Float32Array | Float64Array;

/**
 * Where new float32 storage comes from while a step arena is open (src/kernels/wasm/arena.ts): zeroed
 * memory in the kernels' shared WebAssembly memory, released when the arena closes. Null otherwise.
 */
let float32Source: ((size: number, zeroed: boolean) => Float32Array) | null = null;

/**
 * Installs (or with null removes) the source of new float32 storage (used by step arenas). `zeroed`
 * false: the caller writes every element, so the source may hand out memory as it is.
 */
export function setFloat32Source(source: ((size: number, zeroed: boolean) => Float32Array) | null): void {
  float32Source = source;
}

/**
 * How float32 blocks are copied (`copyBlock`): `TypedArray.set` unless the WebAssembly runtime installs a
 * copier, which copies blocks of its shared memory with vector loads and stores (V8 copies between views of
 * a SharedArrayBuffer element by element: about 14 GB/s here, a few times slower).
 */
let float32Copier: ((dst: Float32Array, dstIndex: number, src: Float32Array, srcIndex: number, n: number) => boolean) | null = null;

/** Installs (or with null removes) the fast float32 copier; it returns false for arrays it does not handle. */
export function setFloat32Copier(copier: typeof float32Copier): void {
  float32Copier = copier;
}

/** dst[dstIndex … dstIndex + n) = src[srcIndex … srcIndex + n). */
export function copyBlock(dst: TypedArray, dstIndex: number, src: TypedArray, srcIndex: number, n: number): void {
  if (float32Copier !== null && dst instanceof Float32Array && src instanceof Float32Array && float32Copier(dst, dstIndex, src, srcIndex, n)) return;
  dst.set(src.subarray(srcIndex, srcIndex + n), dstIndex);
}

/** New zeroed storage for an op's result: from the open step arena, if any (float32), else the JS heap. */
export function allocate(dtype: DType, size: number): TypedArray {
  if (dtype === 'float64') return new Float64Array(size);
  return float32Source !== null ? float32Source(size, true) : new Float32Array(size);
}

/**
 * New storage for a result whose every element the caller writes (a copy, a concatenation): like
 * `allocate`, but a step arena skips zeroing it, a pass over memory the copy would overwrite anyway
 * (concatenating the decoder's skip connections zeroed 9 MB a step for nothing). Its values before the
 * caller writes them are unspecified.
 */
export function allocateForOverwrite(dtype: DType, size: number): TypedArray {
  if (dtype === 'float64') return new Float64Array(size);
  return float32Source !== null ? float32Source(size, false) : new Float32Array(size);
}

/** New zeroed storage that outlives any step arena (optimiser state, caches): always the JS heap. */
export function allocatePersistent(dtype: DType, size: number): TypedArray {
  return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
}

export function dtypeOf(array: TypedArray): DType {
  return array instanceof Float64Array ? 'float64' : 'float32';
}

export function isDType(value: unknown): value is DType {
  return value === 'float32' || value === 'float64';
}
