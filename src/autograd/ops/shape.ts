/**
 * Layout ops: views that share storage (reshape, permute, slice, expand, squeeze) and the copies that
 * layouts sometimes need (contiguous, cast, concat, pad). Each op's backward sits under its forward.
 */
import { allocate, allocateForOverwrite, copyBlock, type DType, type TypedArray } from '../dtype.js';
import { record } from '../engine.js';
import {
  checkShape,
  contiguousStrides,
  formatShape,
  normalizeAxis,
  type Shape,
  shapesEqual,
  sizeOf,
} from '../shape.js';
import { Tensor } from '../tensor.js';
import { runKernel } from '../kernel.js';
import { sameBackend } from './transfer.js';

/**
 * Views with strides and copies read host storage; a device tensor has none (its values are always
 * contiguous on the device), so these ops refuse it instead of reading an empty array.
 */
function hostLayout(op: string, t: Tensor): void {
  if (t.device) {
    throw new Error(
      `${op}: ${t} lives on the '${t.device.backend}' backend, which supports reshape and channel concat but not ${op}; bring it to the host with await toHost(t).`,
    );
  }
}

/**
 * Copy a strided view into a new row-major array (optionally of another dtype).
 * The innermost axis runs in a tight loop; the outer axes advance like an odometer.
 */
export function gatherStrided(
  src: TypedArray,
  shape: Shape,
  strides: readonly number[],
  offset: number,
  dtype: DType,
): TypedArray {
  const n = sizeOf(shape);
  const out = allocateForOverwrite(dtype, n); // every element is written below
  if (n === 0) return out;
  const rank = shape.length;
  if (rank === 0) {
    out[0] = src[offset] as number;
    return out;
  }
  // Trailing axes laid out contiguously (e.g. a channel slice of NCHW) are copied as whole blocks.
  let block = 1;
  let contiguousAxes = 0;
  for (let ax = rank - 1; ax >= 0; ax--) {
    if ((shape[ax] as number) !== 1 && strides[ax] !== block) break;
    block *= shape[ax] as number;
    contiguousAxes++;
  }
  if (contiguousAxes > 0 && contiguousAxes < rank && block >= 16) {
    return gatherBlocks(
      src,
      out,
      shape.slice(0, rank - contiguousAxes),
      strides.slice(0, rank - contiguousAxes),
      offset,
      block,
    );
  }
  const inner = shape[rank - 1] as number;
  const innerStride = strides[rank - 1] as number;
  const index = new Array<number>(rank - 1).fill(0);
  let base = offset;
  for (let o = 0; o < n; o += inner) {
    for (let j = 0, s = base; j < inner; j++, s += innerStride) out[o + j] = src[s] as number;
    base = advance(index, shape, strides, rank - 2, base);
  }
  return out;
}

/**
 * Advances the odometer `index` over axes 0 … last by one step and returns the new source offset (the
 * last axis turns fastest; an axis that wraps rewinds its stride and carries into the one before).
 */
function advance(index: number[], shape: Shape, strides: readonly number[], last: number, base: number): number {
  for (let ax = last; ax >= 0; ax--) {
    const i = (index[ax] as number) + 1;
    if (i < (shape[ax] as number)) {
      index[ax] = i;
      return base + (strides[ax] as number);
    }
    index[ax] = 0;
    base -= (i - 1) * (strides[ax] as number);
  }
  return base;
}

/** gatherStrided when every element of the outer axes starts a contiguous block of `block` values. */
function gatherBlocks(
  src: TypedArray,
  out: TypedArray,
  outer: Shape,
  strides: readonly number[],
  offset: number,
  block: number,
): TypedArray {
  const rank = outer.length;
  const index = new Array<number>(rank).fill(0);
  let base = offset;
  for (let o = 0; o < out.length; o += block) {
    copyBlock(out, o, src, base, block);
    base = advance(index, outer, strides, rank - 1, base);
  }
  return out;
}

/** Row-major copy of `t` (no-op when it already is contiguous). Not recorded: values and grads pass through. */
export function contiguous(t: Tensor): Tensor {
  if (t.isContiguous) return t;
  const out = new Tensor(gatherStrided(t.storage, t.shape, t.strides, t.offset, t.dtype), t.shape);
  return record(out, 'contiguous', [t], (g) => [g]);
}

export function clone(t: Tensor): Tensor {
  hostLayout('clone', t);
  const out = new Tensor(gatherStrided(t.storage, t.shape, t.strides, t.offset, t.dtype), t.shape);
  return record(out, 'clone', [t], (g) => [g]);
}

export function cast(t: Tensor, dtype: DType): Tensor {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new Error(`to: unknown dtype '${String(dtype)}'; use 'float32' or 'float64'.`);
  }
  if (t.dtype === dtype) return t;
  hostLayout('to', t);
  const out = new Tensor(gatherStrided(t.storage, t.shape, t.strides, t.offset, dtype), t.shape);
  return record(out, 'cast', [t], (g) => [cast(g, t.dtype)]);
}

/** Reshape; one dimension may be -1. A view for contiguous tensors, a copy otherwise. */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  const resolved = [...shape];
  const unknown = resolved.indexOf(-1);
  if (unknown >= 0) {
    const known = sizeOf(resolved.filter((_, i) => i !== unknown));
    if (known === 0 || t.size % known !== 0) {
      throw new Error(
        `reshape: cannot infer -1 in ${formatShape(shape)} for a tensor of ${t.size} elements ${formatShape(t.shape)}.`,
      );
    }
    resolved[unknown] = t.size / known;
  }
  checkShape('reshape', resolved);
  if (sizeOf(resolved) !== t.size) {
    throw new Error(
      `reshape: cannot reshape ${formatShape(t.shape)} (${t.size} elements) to ${formatShape(resolved)} (${sizeOf(resolved)} elements); the element counts must match.`,
    );
  }
  const src = contiguous(t);
  const out = src.device
    ? Tensor.onDevice(src.device, resolved)
    : new Tensor(src.storage, resolved, undefined, src.offset);
  return record(out, 'reshape', [src], (g) => [reshape(g, src.shape)]);
}

export function permute(t: Tensor, axes: readonly number[]): Tensor {
  hostLayout('permute', t);
  const rank = t.rank;
  const norm = axes.map((a) => normalizeAxis('permute', a, rank));
  if (norm.length !== rank || new Set(norm).size !== rank) {
    throw new Error(
      `permute: axes ${formatShape(axes)} must be a permutation of 0..${rank - 1} for a tensor of shape ${formatShape(t.shape)}.`,
    );
  }
  const out = new Tensor(
    t.storage,
    norm.map((a) => t.shape[a] as number),
    norm.map((a) => t.strides[a] as number),
    t.offset,
  );
  const inverse = new Array<number>(rank);
  norm.forEach((a, i) => (inverse[a] = i));
  return record(out, 'permute', [t], (g) => [permute(g, inverse)]);
}

export function transpose(t: Tensor, a: number, b: number): Tensor {
  const rank = t.rank;
  if (rank < 2) return t;
  const axes = Array.from({ length: rank }, (_, i) => i);
  const x = normalizeAxis('transpose', a, rank);
  const y = normalizeAxis('transpose', b, rank);
  axes[x] = y;
  axes[y] = x;
  return permute(t, axes);
}

/** Elements start, start+step, … < end along one axis, as a view. */
export function slice(t: Tensor, axis: number, start: number, end?: number, step = 1): Tensor {
  hostLayout('slice', t);
  const ax = normalizeAxis('slice', axis, t.rank);
  const n = t.shape[ax] as number;
  const clampIndex = (i: number): number => Math.min(n, Math.max(0, i < 0 ? i + n : i));
  const s = clampIndex(start);
  const e = end === undefined ? n : clampIndex(end);
  if (!Number.isInteger(step) || step < 1) throw new Error(`slice: step must be a positive integer, got ${step}.`);
  const len = Math.max(0, Math.ceil((e - s) / step));
  const shape = [...t.shape];
  shape[ax] = len;
  const strides = [...t.strides];
  strides[ax] = (t.strides[ax] as number) * step;
  const out = new Tensor(t.storage, shape, strides, t.offset + s * (t.strides[ax] as number));
  return record(out, 'slice', [t], (g) => {
    // scatter the gradient back into a zero tensor of the input's shape
    const full = new Tensor(allocate(g.dtype, t.size), t.shape);
    const view = slice(full, ax, s, e, step);
    scatterInto(view, g);
    return [full];
  });
}

/** Write `src` (same shape) into the strided view `dst`. */
function scatterInto(dst: Tensor, src: Tensor): void {
  const values = src.values();
  const rank = dst.rank;
  const index = new Array<number>(rank).fill(0);
  for (let k = 0; k < values.length; k++) {
    let pos = dst.offset;
    for (let a = 0; a < rank; a++) pos += (index[a] as number) * (dst.strides[a] as number);
    dst.storage[pos] = values[k] as number;
    for (let a = rank - 1; a >= 0; a--) {
      index[a] = (index[a] as number) + 1;
      if ((index[a] as number) < (dst.shape[a] as number)) break;
      index[a] = 0;
    }
  }
}

/** Broadcast to a larger shape without copying (stride 0 on broadcast axes). */
export function expand(t: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(t.shape, shape)) return t;
  hostLayout('expand', t);
  const lead = shape.length - t.rank;
  if (lead < 0)
    throw new Error(`expand: cannot expand ${formatShape(t.shape)} to the lower-rank shape ${formatShape(shape)}.`);
  const strides = shape.map((d, i) => {
    if (i < lead) return 0;
    const own = t.shape[i - lead] as number;
    if (own === d) return t.strides[i - lead] as number;
    if (own === 1) return 0;
    throw new Error(
      `expand: cannot expand ${formatShape(t.shape)} to ${formatShape(shape)}; only axes of size 1 can grow.`,
    );
  });
  const out = new Tensor(t.storage, shape, strides, t.offset);
  return record(out, 'expand', [t], (g) => [sumToShape(g, t.shape)]);
}

/** Sum a broadcast gradient back down to `shape` (the backward of broadcasting). */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return reshape(g.sum(axes, true), shape);
}

export function squeeze(t: Tensor, axis?: number): Tensor {
  if (axis === undefined)
    return reshape(
      t,
      t.shape.filter((d) => d !== 1),
    );
  const ax = normalizeAxis('squeeze', axis, t.rank);
  if (t.shape[ax] !== 1)
    throw new Error(`squeeze: axis ${axis} of ${formatShape(t.shape)} has size ${t.shape[ax]}, not 1.`);
  return reshape(
    t,
    t.shape.filter((_, i) => i !== ax),
  );
}

export function unsqueeze(t: Tensor, axis: number): Tensor {
  const ax = normalizeAxis('unsqueeze', axis, t.rank + 1);
  const shape = [...t.shape];
  shape.splice(ax, 0, 1);
  return reshape(t, shape);
}

/** Join tensors of equal shape except along `axis`. */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  const first = tensors[0];
  if (!first) throw new Error('concat: needs at least one tensor.');
  const ax = normalizeAxis('concat', axis, first.rank);
  for (const t of tensors) {
    if (t.dtype !== first.dtype)
      throw new Error(`concat: dtypes differ (${first.dtype} and ${t.dtype}); convert with .to('${first.dtype}').`);
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new Error(
        `concat: shapes ${tensors.map((x) => formatShape(x.shape)).join(', ')} differ outside axis ${ax}; all other axes must match.`,
      );
    }
  }
  if (tensors.some((t) => t.device)) return concatChannelsOnDevice(tensors, ax);
  const shape = [...first.shape];
  shape[ax] = tensors.reduce((s, t) => s + (t.shape[ax] as number), 0);
  const out = allocateForOverwrite(first.dtype, sizeOf(shape)); // the parts below cover every element
  const outer = sizeOf(first.shape.slice(0, ax));
  const innerOut = sizeOf(shape.slice(ax));
  let col = 0;
  for (const t of tensors) {
    const v = t.values();
    const inner = sizeOf(t.shape.slice(ax));
    for (let o = 0; o < outer; o++) copyBlock(out, o * innerOut + col, v, o * inner, inner);
    col += inner;
  }
  const result = new Tensor(out, shape);
  return record(result, 'concat', tensors, (g) => {
    let start = 0;
    return tensors.map((t) => {
      const len = t.shape[ax] as number;
      const part = slice(g, ax, start, start + len);
      start += len;
      return contiguous(part);
    });
  });
}

/**
 * concat of device tensors: the backend's 'ConcatChannels' kernel (NCHW, axis 1: the U-Net's skip
 * connections); the backward cuts the gradient back into channel ranges with 'SliceChannels'.
 */
function concatChannelsOnDevice(tensors: readonly Tensor[], ax: number): Tensor {
  const backend = sameBackend('concat', tensors);
  const first = tensors[0] as Tensor;
  if (ax !== 1 || first.rank !== 4) {
    throw new Error(
      `concat: on the '${backend}' backend only channel concatenation of NCHW tensors (axis 1, rank 4) has a kernel; got axis ${ax} of ${formatShape(first.shape)}.`,
    );
  }
  const [out] = runKernel('ConcatChannels', tensors) as [Tensor];
  return record(out, 'concat', tensors, (g) => {
    let start = 0;
    return tensors.map((t) => {
      const channels = t.shape[1] as number;
      const part = t.requiresGrad ? (runKernel('SliceChannels', [g], { start, channels })[0] as Tensor) : null;
      start += channels;
      return part;
    });
  });
}

/** Constant padding: pads[i] = [before, after] for axis i (trailing axes may be omitted). */
export function pad(t: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  hostLayout('pad', t);
  if (pads.length > t.rank) throw new Error(`pad: ${pads.length} pad pairs for a tensor of rank ${t.rank}.`);
  const full = t.shape.map((_, i) => pads[i] ?? ([0, 0] as const));
  for (const [b, a] of full) {
    if (!Number.isInteger(b) || !Number.isInteger(a) || b < 0 || a < 0) {
      throw new Error(`pad: pad sizes must be non-negative integers, got ${JSON.stringify(pads)}.`);
    }
  }
  const shape = t.shape.map((d, i) => d + full[i]![0] + full[i]![1]);
  const out = new Tensor(allocate(t.dtype, sizeOf(shape)).fill(value), shape);
  let view = out;
  full.forEach(([b], i) => (view = slice(view, i, b, b + (t.shape[i] as number))));
  scatterInto(view, t);
  return record(out, 'pad', [t], (g) => {
    let inner = g;
    full.forEach(([b], i) => (inner = slice(inner, i, b, b + (t.shape[i] as number))));
    return [contiguous(inner)];
  });
}

export { contiguousStrides };
