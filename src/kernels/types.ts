/**
 * What a kernel sees and what it hands back. Kernels know nothing of autograd: their inputs are anything
 * with a shape, a dtype and either host values or a device value (an autograd `Tensor` is one), and they
 * return plain results — host values or a device value, with a shape. The dispatch in src/autograd/kernel.ts
 * wraps those into tensors.
 */

/** The two storage types: float32 for speed (the default), float64 for gradient checks. */
export type DType = 'float32' | 'float64';
export type TypedArray = Float32Array | Float64Array;

/**
 * Values that live on a device (the gpu backend). Kernels chain on them without reading back;
 * only `read()` (behind `await t.data()`) brings values to the host.
 */
export interface DeviceData {
  readonly backend: string;
  /** The number of values (a device value is always contiguous). */
  readonly size: number;
  read(): Promise<Float32Array>;
  /** A new value on the same device, copied from the host now (uploads are synchronous for the caller). */
  upload(values: Float32Array): DeviceData;
  /**
   * In-place update: from now on this value is `next`'s (kernels queued earlier keep the old version).
   * How optimisers and batch norm update device parameters and buffers without a read-back.
   */
  assign(next: DeviceData): void;
  dispose?(): void;
  /** The value outlives every scope (a parameter or buffer moved onto the device, state, a cache). */
  persist?(): void;
}

/** A kernel's input: contiguous, on one device (`device` null: host memory, read with `values()`). */
export interface KernelInput {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: DeviceData | null;
  /** The host values, row-major (a view of the storage, not a copy). */
  values(): TypedArray;
}

/** A kernel's result: new host values, or a device value. */
export type KernelOutput =
  | { readonly shape: readonly number[]; readonly values: TypedArray; readonly device?: undefined }
  | { readonly shape: readonly number[]; readonly device: DeviceData; readonly values?: undefined };

/** Attributes of a kernel call (stride, padding, training, …): plain values. */
export type KernelAttrs = Readonly<Record<string, unknown>>;

export type KernelFunc = (inputs: readonly KernelInput[], attrs: KernelAttrs) => KernelOutput[];

/** Host result helper for kernels: `host(values, shape)`. */
export function host(values: TypedArray, shape: readonly number[]): KernelOutput {
  return { values, shape };
}

/** Device result helper for kernels: `onDevice(data, shape)`. */
export function onDevice(device: DeviceData, shape: readonly number[]): KernelOutput {
  return { device, shape };
}
