/**
 * Device-resident values for the gpu backend.
 *
 * WebGPU kernel calls resolve asynchronously, yet model code is synchronous. So a `GpuData` holds a
 * *promise* of a GPU.js result handle (a WebGPU buffer in webgpu mode, a Float32Array in the cpu
 * emulation mode), and kernels chain on promises: a kernel's output promise is
 * `Promise.all(input promises).then(run kernel)`. Nothing is read back until `read()` (behind
 * `await tensor.data()`).
 *
 * Versions ("slots"): an in-place update (batch norm's running statistics, an optimiser step) swaps the
 * slot of a GpuData for a new one; kernels queued earlier keep the slot they captured, so they still see
 * the old values. A slot counts the GpuData whose current version it is; when none is left (disposed, or
 * updated to a newer version) its buffer is released as soon as the kernels and reads that use it have
 * been submitted. Buffers of values nobody disposed are released when their slot is garbage-collected
 * (FinalizationRegistry).
 *
 * Scopes (src/kernels/engine.ts: `scope(fn)`, a training step): every GpuData made while a scope is open
 * belongs to it and is disposed when it ends, unless a kept or returned tensor holds it. A value that is
 * updated in place (`assign`: parameters, running statistics, optimiser state) is state, and state
 * outlives every scope; so do the backend's own caches (`persist()`).
 */
import type { DeviceData } from '../../autograd/tensor.js';

/** A GPU.js result: a WebGPU pipeline handle, or a Float32Array in cpu mode. */
export type Handle = unknown;

/** What a GpuData needs from its context. */
export interface HandleOwner {
  readonly id: number;
  toHost(handle: Handle, size: number): Promise<Float32Array>;
  release(handle: Handle): void;
  upload(values: Float32Array): GpuData;
}

export class Slot {
  /** Settles once every kernel and read that captured this slot so far has been submitted. */
  private uses: Promise<unknown> = Promise.resolve();
  /** How many GpuData have this slot as their current version. */
  private refs = 0;
  private released = false;

  constructor(
    readonly promise: Promise<Handle>,
    private readonly owner: HandleOwner,
  ) {
    // A failed kernel rejects this promise; consumers (read, downstream kernels) see the error.
    // Without a handler here an unread failure would be an unhandled rejection.
    promise.catch(() => {});
    registry.register(this, { promise, owner }, this);
  }

  /** Record a kernel or read that uses this slot (its buffer must outlive the submission). */
  use(done: Promise<unknown>): void {
    this.uses = Promise.allSettled([this.uses, done]);
  }

  /** Settles when the handle exists and no recorded user still needs it. */
  idle(): Promise<unknown> {
    return Promise.allSettled([this.promise, this.uses]);
  }

  ref(): this {
    this.refs++;
    return this;
  }

  /** One GpuData less holds this version; with none left, its buffer goes back once nothing uses it. */
  unref(): void {
    if (--this.refs > 0 || this.released) return;
    this.released = true;
    registry.unregister(this);
    void this.idle().then(() =>
      this.promise.then(
        (h) => this.owner.release(h),
        () => {},
      ),
    );
  }
}

interface Held {
  promise: Promise<Handle>;
  owner: HandleOwner;
}

const registry = new FinalizationRegistry<Held>((held) => {
  held.promise.then(
    (h) => held.owner.release(h),
    () => {},
  );
});

/** What reading a value a scope has freed says (the host tensors' message, src/autograd/tensor.ts, for the device). */
function releasedMessage(what: string): string {
  return (
    `${what} was made inside a scope that has ended (scope(fn), withStepArena, a training step), and its device ` +
    `memory is freed: read what you need (await t.data()) inside the scope, return it from scope(fn), or keep(t).`
  );
}

/** The GpuData made in each open scope, innermost last. */
const frames: Set<GpuData>[] = [];

export class GpuData implements DeviceData {
  readonly backend = 'gpu';
  private current: Slot;
  /** Why this value can no longer be read (null while it can). */
  private gone: string | null = null;
  /** The scope that made it and disposes it at its end (null: it outlives every scope). */
  private frame: Set<GpuData> | null;

  constructor(
    readonly owner: HandleOwner,
    promise: Promise<Handle>,
    readonly size: number,
  ) {
    this.current = new Slot(promise, owner).ref();
    this.frame = frames[frames.length - 1] ?? null;
    this.frame?.add(this);
  }

  /** The current version (captured by kernels that read this value). */
  get slot(): Slot {
    if (this.gone !== null) throw new Error(this.gone);
    return this.current;
  }

  /** Whether its device memory has been given back (disposed, or released by its scope). */
  get disposed(): boolean {
    return this.gone !== null;
  }

  /**
   * In-place update: from now on this value is `next`'s current version (kernels queued before keep
   * the old version, which is released once nothing uses it). A value updated in place is state: it
   * outlives every scope.
   */
  assign(next: DeviceData): void {
    if (!(next instanceof GpuData))
      throw new Error(`gpu backend: cannot assign a value of the '${next.backend}' backend to a gpu tensor.`);
    if (next.owner !== this.owner) throw new Error('gpu backend: cannot assign a value from another gpu context.');
    if (next.size !== this.size)
      throw new Error(`gpu backend: cannot assign ${next.size} values to a tensor of ${this.size}.`);
    const old = this.slot;
    this.current = next.slot.ref();
    old.unref();
    this.persist();
  }

  /** This value outlives every scope (state and caches); it is freed by dispose() or garbage collection. */
  persist(): this {
    this.frame?.delete(this);
    this.frame = null;
    return this;
  }

  /** A new value on this value's context, copied from the host now. */
  upload(values: Float32Array): GpuData {
    return this.owner.upload(values);
  }

  /** Copy the values to the host (asynchronous: waits for every kernel this value depends on). */
  async read(): Promise<Float32Array> {
    const slot = this.slot;
    const reading = slot.promise.then((handle) => this.owner.toHost(handle, this.size));
    slot.use(reading);
    return reading;
  }

  /** Release the device buffer now instead of at garbage collection; reading it afterwards throws. */
  dispose(): void {
    this.free('gpu backend: this tensor was disposed; its device buffer is gone.');
  }

  /** Called when the scope that made this value ends (`what` names the tensor, for the error message). */
  releaseByScope(what: string): void {
    this.free(releasedMessage(what));
  }

  private free(why: string): void {
    if (this.gone !== null) return;
    this.gone = why;
    this.persist();
    this.current.unref();
  }
}

// ---- scopes ------------------------------------------------------------------------------------------

/** The part of a tensor a scope looks at (an autograd `Tensor` is one). */
interface ScopedDeviceTensor {
  readonly device: unknown;
  release_(): void;
}

/** A scope opens (src/kernels/engine.ts): the GpuData made from now on are its. */
export function beginScope(): void {
  frames.push(new Set());
}

/**
 * The innermost scope ends: every GpuData it made is disposed, except those a kept (or returned) tensor
 * holds, which outlive every scope. Tensors whose value was disposed are released (their tape goes too);
 * the others — host tensors, kept ones, views of older values — are returned for the enclosing scope.
 */
export function endScope<T extends ScopedDeviceTensor>(tensors: readonly T[], isKept: (t: T) => boolean): T[] {
  const made = frames.pop();
  if (made === undefined) return [...tensors];
  const names = new Map<GpuData, string>();
  for (const t of tensors) {
    const d = t.device;
    if (!(d instanceof GpuData)) continue;
    if (isKept(t)) d.persist();
    if (!names.has(d)) names.set(d, String(t));
  }
  for (const d of made) d.releaseByScope(names.get(d) ?? `a gpu value of ${d.size} elements`);
  const survivors: T[] = [];
  for (const t of tensors) {
    if (t.device instanceof GpuData && t.device.disposed) t.release_();
    else survivors.push(t);
  }
  return survivors;
}
