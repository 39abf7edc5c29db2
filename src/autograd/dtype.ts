/** The two storage types: float32 for speed (the default), float64 for gradient checks. */
export type DType = 'float32' | 'float64';
export type TypedArray = Float32Array | Float64Array;

/**
 * Where new float32 storage comes from while a step arena is open (src/kernels/wasm/arena.ts): zeroed
 * memory in the kernels' shared WebAssembly memory, released when the arena closes. Null otherwise.
 */
let float32Source: ((size: number) => Float32Array) | null = null;

/** Installs (or with null removes) the source of new float32 storage (used by step arenas). */
export function setFloat32Source(source: ((size: number) => Float32Array) | null): void {
  float32Source = source;
}

/** New zeroed storage for an op's result: from the open step arena, if any (float32), else the JS heap. */
export function allocate(dtype: DType, size: number): TypedArray {
  if (dtype === 'float64') return new Float64Array(size);
  return float32Source !== null ? float32Source(size) : new Float32Array(size);
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
