/**
 * The tensor: a strided view (shape, strides, offset) over a flat typed array, plus what autograd needs
 * (`requiresGrad`, `grad`, the grad node that produced it).
 *
 * Views share storage: reshape of a contiguous tensor, permute/transpose, slice and expand never copy;
 * `contiguous()` copies only when the layout demands it. Kernels work on contiguous data, so most ops
 * start with `x.contiguous()` (a no-op for tensors that already are).
 */
import { allocate, type DType, type TypedArray } from './dtype.js';
import { keepWhile, trackTensor } from '../kernels/engine.js';
import type { DeviceData } from '../kernels/types.js';
import { type BackwardOptions, type GradNode, runBackward } from './engine.js';
import { contiguousStrides, formatShape, type Shape, sizeOf } from './shape.js';
import * as ew from './ops/elementwise.js';
import * as red from './ops/reduce.js';
import * as shp from './ops/shape.js';
import { matmul } from './ops/matmul.js';

export type TensorLike = Tensor | number;

export type { DeviceData };

const EMPTY = new Float32Array(0);
/** The storage of a tensor whose scope has ended and whose memory was reused (see src/kernels/engine.ts). */
const RELEASED = new Float32Array(0);

export class Tensor {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  private _storage: TypedArray;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** Set by the op that produced this tensor while recording; null for leaves. */
  gradNode: GradNode | null = null;
  /** Intermediate tensors keep their gradient only when asked (as in PyTorch). */
  retainsGrad = false;
  /** Optional name, shown in error messages and parameter listings. */
  name: string | undefined;
  /** Set for tensors whose values live on a device; `storage` is then empty. */
  readonly device: DeviceData | null = null;

  constructor(storage: TypedArray, shape: Shape, strides?: readonly number[], offset = 0) {
    this._storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.dtype = storage instanceof Float64Array ? 'float64' : 'float32';
    trackTensor(this); // the innermost open scope owns it (src/kernels/engine.ts)
  }

  /** The flat storage this tensor views (shared between views). */
  get storage(): TypedArray {
    const s = this._storage;
    if (s === RELEASED) {
      throw new Error(
        `${this} was made inside a scope that has ended (scope(fn), withStepArena, a training step), and its memory ` +
          `is reused: read what you need (t.item(), t.dataSync()) inside the scope, return it from scope(fn), or keep(t).`,
      );
    }
    return s;
  }

  /**
   * Called by the engine when this tensor's scope ends: the storage goes back to the backend, so any later
   * read throws (instead of returning values of a later step); the tape behind the tensor goes too.
   */
  release_(): void {
    this._storage = RELEASED;
    this.gradNode = null;
    this.grad = null;
    this.device?.dispose?.();
  }

  /**
   * Called by the WebAssembly backend when its unshared memory grew inside a scope (a page without
   * cross-origin isolation): growth replaces the memory's buffer and detaches views of the old one, so the
   * tensor looks at the same bytes through a new view. Nothing else changes.
   */
  rebind_(storage: Float32Array): void {
    this._storage = storage;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** A tensor whose values live on a device backend (always contiguous there). */
  static onDevice(device: DeviceData, shape: Shape): Tensor {
    const t = new Tensor(EMPTY, shape);
    (t as { device: DeviceData | null }).device = device;
    return t;
  }

  /**
   * Move this tensor's values in place (Module.to / Module.toHost): onto a device, or back into host
   * storage. The tensor keeps its identity, so layers, parameter lists and names that refer to it follow.
   * Onto a device only for tensors that own all of their storage (parameters and buffers); into host
   * storage also for views (a scope's kept results: `storage` then holds the view's values, row-major).
   * The gradient is dropped, as it lives where the values used to, and so is the tape behind it.
   */
  relocate_(where: { device: DeviceData } | { storage: Float32Array }): this {
    if (
      'device' in where &&
      !this.device &&
      (!this.isContiguous || this.offset !== 0 || this.storage.length !== this.size)
    ) {
      throw new Error(
        `relocate_: ${this} is a view; only tensors that own their storage (parameters, buffers) can move.`,
      );
    }
    const self = this as unknown as {
      _storage: TypedArray;
      strides: readonly number[];
      offset: number;
      device: DeviceData | null;
    };
    if ('device' in where) {
      if (where.device.size !== this.size)
        throw new Error(`relocate_: ${where.device.size} device values for ${this}.`);
      self._storage = EMPTY;
      self.device = where.device;
      where.device.persist?.(); // parameters and buffers outlive the scope they were moved in
    } else {
      if (where.storage.length !== this.size)
        throw new Error(`relocate_: ${where.storage.length} host values for ${this}.`);
      self._storage = where.storage;
      self.device = null;
    }
    self.strides = Object.freeze(contiguousStrides(this.shape));
    self.offset = 0;
    this.grad = null;
    this.gradNode = null;
    return this;
  }

  /** Where the values live: 'cpu' (in `storage`) or a device backend such as 'gpu'. */
  get backend(): string {
    return this.device ? this.device.backend : 'cpu';
  }

  private assertHost(what: string): void {
    if (this.device) {
      throw new Error(
        `${what}: ${this} lives on the '${this.device.backend}' backend; read it with 'await t.data()' (device reads are asynchronous).`,
      );
    }
  }

  get isContiguous(): boolean {
    if (this.device) return true;
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      const d = this.shape[i] as number;
      if (d !== 1 && this.strides[i] !== expected) return false;
      expected *= d;
    }
    return true;
  }

  /**
   * The values as a contiguous typed array. For a contiguous tensor that covers its whole storage this is
   * the storage itself (no copy): treat it as read-only unless you own the tensor.
   */
  values(): TypedArray {
    this.assertHost('values');
    if (this.isContiguous) {
      const n = this.size;
      if (this.offset === 0 && this.storage.length === n) return this.storage;
      return this.storage.subarray(this.offset, this.offset + n);
    }
    return shp.gatherStrided(this.storage, this.shape, this.strides, this.offset, this.dtype);
  }

  /** A fresh copy of the values, row-major (synchronous; CPU tensors). */
  dataSync(): TypedArray {
    // new + set, not slice(): slice copies out of a SharedArrayBuffer (step arenas) element by element
    const v = this.values();
    const copy = v instanceof Float64Array ? new Float64Array(v.length) : new Float32Array(v.length);
    copy.set(v);
    return copy;
  }

  /** A fresh copy of the values, row-major. Async so that device backends can read back. */
  async data(): Promise<TypedArray> {
    if (this.device) return this.device.read();
    return this.dataSync();
  }

  /** The single value of a one-element tensor. */
  item(): number {
    this.assertHost('item');
    if (this.size !== 1) {
      throw new Error(
        `item: tensor of shape ${formatShape(this.shape)} has ${this.size} elements, item() needs exactly 1. Reduce it first, e.g. t.sum().item().`,
      );
    }
    return this.storage[this.offset] as number;
  }

  /** Nested JavaScript arrays, for printing and tests. */
  toArray(): unknown {
    const v = this.values();
    const build = (axis: number, base: number): unknown => {
      if (axis === this.rank) return v[base];
      const n = this.shape[axis] as number;
      const step = sizeOf(this.shape.slice(axis + 1));
      return Array.from({ length: n }, (_, i) => build(axis + 1, base + i * step));
    };
    return build(0, 0);
  }

  toString(): string {
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ---- autograd ----------------------------------------------------------------------------------

  /**
   * Back-propagate from this tensor. A scalar (one element) needs no upstream gradient; any other tensor
   * needs `gradient` of its own shape.
   */
  backward(gradient?: Tensor, options: BackwardOptions = {}): void {
    if (this._storage === RELEASED) void this.storage; // throws: the arena that held this tensor (and its tape) is closed
    if (!this.requiresGrad) {
      throw new Error(
        `backward: ${this} does not require grad, so nothing was recorded. Create leaves with { requiresGrad: true } ` +
          `(or call .requiresGrad_()) before computing from them, and do not compute inside noGrad().`,
      );
    }
    let seed: Tensor;
    if (gradient === undefined) {
      if (this.device) {
        // the seed would have to be created on the device, and a loss on the device could not be read anyway
        throw new Error(
          `backward: ${this} lives on the '${this.device.backend}' backend; compute the loss on the host, ` +
            `e.g. const host = await toHost(logits); bceWithLogits(host, target).backward().`,
        );
      }
      if (this.size !== 1) {
        throw new Error(
          `backward: ${this} is not a scalar; pass the upstream gradient, t.backward(gradient) with shape ${formatShape(this.shape)}, ` +
            `or reduce first, e.g. t.sum().backward().`,
        );
      }
      seed = new Tensor(allocate(this.dtype, 1).fill(1), this.shape);
    } else {
      if (gradient.shape.length !== this.shape.length || gradient.shape.some((d, i) => d !== this.shape[i])) {
        throw new Error(
          `backward: upstream gradient has shape ${formatShape(gradient.shape)} but the tensor has shape ${formatShape(this.shape)}; they must be equal.`,
        );
      }
      if (gradient.backend !== this.backend) {
        throw new Error(
          `backward: ${this} lives on '${this.backend}' but the upstream gradient ${gradient} on '${gradient.backend}'; they must be on the same backend.`,
        );
      }
      seed = gradient.dtype === this.dtype ? gradient : gradient.to(this.dtype);
    }
    runBackward(this, seed, options);
  }

  /** Add `g` into `.grad` (called by the engine for leaves and retained tensors). */
  accumulateGrad(g: Tensor): void {
    if (this.device || g.device) {
      this.accumulateDeviceGrad(g);
      return;
    }
    const own = g.dtype === this.dtype ? g : g.to(this.dtype);
    if (this.grad === null) {
      // Copy so that a later in-place update of .grad (optimisers, zeroGrad) never touches op outputs.
      this.grad = new Tensor(own.dataSync(), this.shape);
    } else {
      const acc = this.grad.storage;
      const add = own.values();
      for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) + (add[i] as number);
    }
  }

  /**
   * Device gradients are immutable values (nothing updates them in place: optimisers swap in new versions
   * of the parameters instead), so the first gradient is kept as it is and later ones are added by a
   * kernel into a new tensor.
   */
  private accumulateDeviceGrad(g: Tensor): void {
    if (g.backend !== this.backend || (this.grad !== null && this.grad.backend !== this.backend)) {
      throw new Error(
        `backward: ${this} lives on '${this.backend}' but its gradient ${g} on '${g.backend}'. Keep a model's ` +
          `parameters and its computation on one backend (module.to('gpu') before building the optimiser; await toHost(t) to read results).`,
      );
    }
    const grad =
      this.grad === null ? Tensor.onDevice(g.device as DeviceData, this.shape) : this.grad.add(g.reshape(this.shape));
    // A leaf gradient outlives the scope it was made in (a training step) while it is this leaf's .grad; the
    // step whose zeroGrad drops it frees its device memory when it ends (src/kernels/engine.ts).
    const leaf = new WeakRef<Tensor>(this);
    this.grad = keepWhile(grad, () => leaf.deref()?.grad === grad);
  }

  /** Keep `.grad` on this intermediate tensor after backward. */
  retainGrad(): this {
    this.retainsGrad = true;
    return this;
  }

  requiresGrad_(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }

  zeroGrad(): void {
    this.grad = null;
  }

  /** The same values, cut from the tape. Shares storage. */
  detach(): Tensor {
    if (this.device) return Tensor.onDevice(this.device, this.shape);
    return new Tensor(this.storage, this.shape, this.strides, this.offset);
  }

  // ---- conversions and views (implemented in ops/shape.ts) ----------------------------------------

  contiguous(): Tensor {
    return shp.contiguous(this);
  }
  clone(): Tensor {
    return shp.clone(this);
  }
  to(dtype: DType): Tensor {
    return shp.cast(this, dtype);
  }
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    return shp.reshape(this, flatArgs(shape));
  }
  view(...shape: number[] | [readonly number[]]): Tensor {
    return shp.reshape(this, flatArgs(shape));
  }
  flatten(): Tensor {
    return shp.reshape(this, [this.size]);
  }
  permute(...axes: number[] | [readonly number[]]): Tensor {
    return shp.permute(this, flatArgs(axes));
  }
  transpose(a = -2, b = -1): Tensor {
    return shp.transpose(this, a, b);
  }
  get T(): Tensor {
    return shp.transpose(this, -2, -1);
  }
  slice(axis: number, start: number, end?: number, step = 1): Tensor {
    return shp.slice(this, axis, start, end, step);
  }
  expand(shape: readonly number[]): Tensor {
    return shp.expand(this, shape);
  }
  squeeze(axis?: number): Tensor {
    return shp.squeeze(this, axis);
  }
  unsqueeze(axis: number): Tensor {
    return shp.unsqueeze(this, axis);
  }
  pad(pads: readonly (readonly [number, number])[], value = 0): Tensor {
    return shp.pad(this, pads, value);
  }

  // ---- arithmetic (ops/elementwise.ts) ------------------------------------------------------------

  add(other: TensorLike): Tensor {
    return ew.add(this, other);
  }
  sub(other: TensorLike): Tensor {
    return ew.sub(this, other);
  }
  mul(other: TensorLike): Tensor {
    return ew.mul(this, other);
  }
  div(other: TensorLike): Tensor {
    return ew.div(this, other);
  }
  pow(other: TensorLike): Tensor {
    return ew.pow(this, other);
  }
  neg(): Tensor {
    return ew.neg(this);
  }
  exp(): Tensor {
    return ew.exp(this);
  }
  log(): Tensor {
    return ew.log(this);
  }
  sqrt(): Tensor {
    return ew.sqrt(this);
  }
  abs(): Tensor {
    return ew.abs(this);
  }
  sigmoid(): Tensor {
    return ew.sigmoid(this);
  }
  relu(): Tensor {
    return ew.relu(this);
  }
  tanh(): Tensor {
    return ew.tanh(this);
  }
  softplus(): Tensor {
    return ew.softplus(this);
  }
  clamp(min?: number, max?: number): Tensor {
    return ew.clamp(this, min, max);
  }
  matmul(other: Tensor): Tensor {
    return matmul(this, other);
  }

  // ---- reductions (ops/reduce.ts) -----------------------------------------------------------------

  sum(axes?: number | readonly number[], keepdim = false): Tensor {
    return red.sum(this, axes, keepdim);
  }
  mean(axes?: number | readonly number[], keepdim = false): Tensor {
    return red.mean(this, axes, keepdim);
  }
  max(axes?: number | readonly number[], keepdim = false): Tensor {
    return red.max(this, axes, keepdim);
  }
}

function flatArgs(args: number[] | [readonly number[]]): number[] {
  const first = args[0];
  return Array.isArray(first) ? [...(first as readonly number[])] : (args as number[]);
}
