/** Making tensors: from data, constants, ranges, seeded random draws, and ndarray interop. */
import ndarray from 'ndarray';
import { allocate, type DType, isDType, type TypedArray } from './dtype.js';
import { Rng } from './rng.js';
import { checkShape, contiguousStrides, formatShape, sizeOf } from './shape.js';
import { Tensor } from './tensor.js';

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

export type NestedArray = number | readonly NestedArray[];

function finish(t: Tensor, options: TensorOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

function resolveDType(options: TensorOptions, fallback: DType = 'float32'): DType {
  const dtype = options.dtype ?? fallback;
  if (!isDType(dtype)) throw new Error(`unknown dtype '${String(dtype)}'; use 'float32' or 'float64'.`);
  return dtype;
}

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let level: NestedArray = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = (level as readonly NestedArray[])[0] as NestedArray;
  }
  return shape;
}

function flattenNested(data: NestedArray, shape: number[], out: TypedArray): void {
  let k = 0;
  const walk = (node: NestedArray, axis: number): void => {
    if (axis === shape.length) {
      if (typeof node !== 'number')
        throw new Error(
          `tensor: ragged nested array; expected a number at depth ${axis}, shape ${formatShape(shape)}.`,
        );
      out[k++] = node;
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[axis]) {
      throw new Error(
        `tensor: ragged nested array; every list at depth ${axis} must have ${shape[axis]} entries (shape ${formatShape(shape)}).`,
      );
    }
    for (const child of node as readonly NestedArray[]) walk(child, axis + 1);
  };
  walk(data, 0);
}

/**
 * A tensor from numbers, nested arrays, or a typed/plain array with an explicit shape.
 * Float32Array/Float64Array data of the requested dtype is used without copying.
 */
export function tensor(
  data: NestedArray | ArrayLike<number>,
  shape?: readonly number[],
  options: TensorOptions = {},
): Tensor {
  const isTyped = ArrayBuffer.isView(data);
  const dtype = resolveDType(options, data instanceof Float64Array ? 'float64' : 'float32');
  let storage: TypedArray;
  let finalShape: number[];
  if (typeof data === 'number') {
    storage = allocate(dtype, 1);
    storage[0] = data;
    finalShape = shape ? [...shape] : [];
  } else if (isTyped || (shape && !Array.isArray((data as ArrayLike<number>)[0]))) {
    const flat = data as ArrayLike<number>;
    finalShape = shape ? [...shape] : [flat.length];
    if ((dtype === 'float64' && flat instanceof Float64Array) || (dtype === 'float32' && flat instanceof Float32Array))
      storage = flat;
    else storage = allocate(dtype, flat.length).map((_, i) => flat[i] as number) as TypedArray;
  } else {
    const inferred = inferShape(data as NestedArray);
    storage = allocate(dtype, sizeOf(inferred));
    flattenNested(data as NestedArray, inferred, storage);
    finalShape = shape ? [...shape] : inferred;
  }
  checkShape('tensor', finalShape);
  if (sizeOf(finalShape) !== storage.length) {
    throw new Error(
      `tensor: ${storage.length} values do not fill shape ${formatShape(finalShape)} (${sizeOf(finalShape)} elements).`,
    );
  }
  return finish(new Tensor(storage, finalShape), options);
}

export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  checkShape('full', shape);
  return finish(new Tensor(allocate(resolveDType(options), sizeOf(shape)).fill(value), shape), options);
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** start, start+step, … < end (like numpy.arange). */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  const [lo, hi] = end === undefined ? [0, start] : [start, end];
  if (step === 0 || !Number.isFinite(step))
    throw new Error(`arange: step must be a finite non-zero number, got ${step}.`);
  const n = Math.max(0, Math.ceil((hi - lo) / step));
  const storage = allocate(resolveDType(options), n);
  for (let i = 0; i < n; i++) storage[i] = lo + i * step;
  return finish(new Tensor(storage, [n]), options);
}

function random(
  shape: readonly number[],
  rng: Rng,
  draw: (r: Rng) => number,
  options: TensorOptions,
  op: string,
): Tensor {
  if (!(rng instanceof Rng))
    throw new Error(
      `${op}: pass a seeded generator, e.g. ${op}([2, 3], new Rng(42)); the library never uses Math.random.`,
    );
  checkShape(op, shape);
  const storage = allocate(resolveDType(options), sizeOf(shape));
  for (let i = 0; i < storage.length; i++) storage[i] = draw(rng);
  return finish(new Tensor(storage, shape), options);
}

/** Standard normal draws. */
export function randn(shape: readonly number[], rng: Rng, options: TensorOptions = {}): Tensor {
  return random(shape, rng, (r) => r.normal(), options, 'randn');
}

/** Uniform draws in [0, 1). */
export function rand(shape: readonly number[], rng: Rng, options: TensorOptions = {}): Tensor {
  return random(shape, rng, (r) => r.uniform(), options, 'rand');
}

/** Standard logistic draws (the noise of the stochastic threshold). */
export function randLogistic(shape: readonly number[], rng: Rng, options: TensorOptions = {}): Tensor {
  return random(shape, rng, (r) => r.logistic(), options, 'randLogistic');
}

/** An ndarray view of a tensor's values; shares memory when the tensor's storage is a plain typed array. */
export function toNdarray(t: Tensor): ndarray.NdArray<TypedArray> {
  return ndarray(t.storage, [...t.shape], [...t.strides], t.offset);
}

/** A tensor over an ndarray's data; shares memory when the ndarray holds a Float32Array/Float64Array. */
export function fromNdarray(array: ndarray.NdArray, options: TensorOptions = {}): Tensor {
  const data = array.data as unknown;
  if (data instanceof Float32Array || data instanceof Float64Array) {
    const want = options.dtype ?? (data instanceof Float64Array ? 'float64' : 'float32');
    const t = new Tensor(data, array.shape, array.stride, array.offset);
    return finish(want === t.dtype ? t : t.to(want), options);
  }
  const shape = array.shape;
  const out = allocate(resolveDType(options), sizeOf(shape));
  const strides = contiguousStrides(shape);
  for (let k = 0; k < out.length; k++) {
    const idx = shape.map((_, a) => Math.floor(k / (strides[a] as number)) % (shape[a] as number));
    out[k] = array.get(...idx);
  }
  return finish(new Tensor(out, shape), options);
}
