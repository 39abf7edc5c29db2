/**
 * Device-resident values for the gpu backend.
 *
 * WebGPU kernel calls resolve asynchronously, yet model code is synchronous. So a `GpuData` holds a
 * *promise* of a GPU.js result handle (a WebGPU buffer in webgpu mode, a Float32Array in the cpu
 * emulation mode), and kernels chain on promises: a kernel's output promise is
 * `Promise.all(input promises).then(run kernel)`. Nothing is read back until `read()` (behind
 * `await tensor.data()`).
 *
 * Versions ("slots"): an in-place update (batch norm's running statistics) swaps the slot of a GpuData
 * for a new one; kernels queued earlier keep the slot they captured, so they still see the old values.
 * Buffers are released when their slot is garbage-collected (FinalizationRegistry), or at `dispose()`.
 * A queued kernel keeps the slots of its inputs alive until it has been submitted.
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
  /** Settles once every kernel that captured this slot so far has been submitted. */
  private uses: Promise<unknown> = Promise.resolve();

  constructor(readonly promise: Promise<Handle>) {
    // A failed kernel rejects this promise; consumers (read, downstream kernels) see the error.
    // Without a handler here an unread failure would be an unhandled rejection.
    promise.catch(() => {});
  }

  /** Record a kernel that reads this slot (its buffer must outlive the kernel's submission). */
  use(done: Promise<unknown>): void {
    this.uses = Promise.allSettled([this.uses, done]);
  }

  /** Settles when the handle exists and no recorded reader still needs it. */
  idle(): Promise<unknown> {
    return Promise.allSettled([this.promise, this.uses]);
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

export class GpuData implements DeviceData {
  readonly backend = 'gpu';
  private current: Slot;
  private disposed = false;

  constructor(
    readonly owner: HandleOwner,
    promise: Promise<Handle>,
    readonly size: number,
  ) {
    this.current = this.track(new Slot(promise));
  }

  /** The current version (captured by kernels that read this value). */
  get slot(): Slot {
    if (this.disposed) throw new Error('gpu backend: this tensor was disposed; its device buffer is gone.');
    return this.current;
  }

  /**
   * In-place update: from now on this value is `next`'s current version (kernels queued before keep
   * the old version, which is released once nothing references it).
   */
  assign(next: DeviceData): void {
    if (!(next instanceof GpuData))
      throw new Error(`gpu backend: cannot assign a value of the '${next.backend}' backend to a gpu tensor.`);
    if (next.owner !== this.owner) throw new Error('gpu backend: cannot assign a value from another gpu context.');
    if (next.size !== this.size)
      throw new Error(`gpu backend: cannot assign ${next.size} values to a tensor of ${this.size}.`);
    this.current = next.slot;
  }

  /** A new value on this value's context, copied from the host now. */
  upload(values: Float32Array): GpuData {
    return this.owner.upload(values);
  }

  /** Copy the values to the host (asynchronous: waits for every kernel this value depends on). */
  async read(): Promise<Float32Array> {
    const slot = this.slot;
    const handle = await slot.promise;
    const out = await this.owner.toHost(handle, this.size);
    return out;
  }

  /** Release the device buffer now instead of at garbage collection. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const slot = this.current;
    registry.unregister(slot);
    void slot.idle().then(() =>
      slot.promise.then(
        (h) => this.owner.release(h),
        () => {},
      ),
    );
  }

  private track(slot: Slot): Slot {
    registry.register(slot, { promise: slot.promise, owner: this.owner }, slot);
    return slot;
  }
}
