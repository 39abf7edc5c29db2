/**
 * One GPU.js instance plus everything the gpu backend keeps with it: the compiled-kernel cache (one
 * kernel per source × constants × output size), the promise chaining of kernel calls, uploads,
 * read-backs and buffer release.
 *
 * Modes: 'webgpu' (the real thing: WGSL compute shaders through Dawn) and 'cpu' (GPU.js's CPU mode,
 * which runs the same kernel sources as JavaScript: for tests and CI on machines without a GPU).
 */
import * as gpujs from 'gpu.js';
import { GpuData, type Handle, type HandleOwner } from './deviceData.js';
import { checkGpuSize } from './limits.js';
import { copySource } from './sources.js';
import { type AdapterInfo, openWebGpuAdapter } from './webgpuDevice.js';

export type GpuMode = 'webgpu' | 'cpu';

export interface GpuContextOptions {
  mode?: GpuMode;
  /** webgpu only: accept a software adapter (llvmpipe, SwiftShader). For checking WGSL on a CPU-only machine; never the default. */
  allowSoftwareAdapter?: boolean;
  /** webgpu only: how long to wait for an adapter (default 30 s). */
  adapterTimeoutMs?: number;
}

/** A kernel to run: JavaScript source text, its constants (sizes), the number of output elements. */
export interface KernelSpec {
  /** For error messages, e.g. 'Conv2D'. */
  name: string;
  source: string;
  constants?: Record<string, number>;
  size: number;
}

// ---- the little of GPU.js we use (its .d.ts does not cover the webgpu pieces) -----------------------

type KernelFn = ((...args: unknown[]) => unknown) & { destroy?: () => void };

interface GpuJsInstance {
  createKernel(source: string, settings: Record<string, unknown>): KernelFn;
  destroy(): Promise<void>;
}

interface GpuJsModule {
  GPU: new (settings: { mode: string }) => GpuJsInstance;
  WebGPUContext: { destroy(): Promise<void> };
}

interface WebGpuHandle {
  toArray(): Promise<unknown>;
  delete(): void;
}

const gpu = gpujs as unknown as GpuJsModule;

let nextId = 1;

/** An opaque use of a value, so that the closure holding it keeps it reachable until this point. */
// biome-ignore lint/correctness/noUnusedVariables: written and never read, on purpose (an opaque use, above).
let kept: unknown = null;
function keepAlive(value: unknown): void {
  kept = value;
  kept = null;
}

/** The number of GPU contexts open in webgpu mode: they share GPU.js's one device (a module singleton). */
let webgpuContexts = 0;

export class GpuContext implements HandleOwner {
  readonly id = nextId++;
  readonly mode: GpuMode;
  /** The adapter (webgpu mode). */
  readonly adapter: AdapterInfo | null;
  private gpu: GpuJsInstance | null;
  private readonly kernels = new Map<string, KernelFn>();
  private restoreNavigator: (() => void) | null;
  /** Counters for info() and benchmarks. */
  readonly stats = { kernelsCompiled: 0, kernelCalls: 0, uploads: 0, reads: 0 };

  private constructor(
    mode: GpuMode,
    instance: GpuJsInstance,
    adapter: AdapterInfo | null,
    restoreNavigator: (() => void) | null,
  ) {
    this.mode = mode;
    this.gpu = instance;
    this.adapter = adapter;
    this.restoreNavigator = restoreNavigator;
  }

  /** Open a context; in webgpu mode this fails with a clear message where there is no hardware adapter. */
  static async create(options: GpuContextOptions = {}): Promise<GpuContext> {
    const mode = options.mode ?? 'webgpu';
    if (mode === 'cpu') return new GpuContext('cpu', new gpu.GPU({ mode: 'cpu' }), null, null);
    if (mode !== 'webgpu')
      throw new Error(`gpu backend: unknown mode '${String(mode)}'; use 'webgpu' (or 'cpu' for tests).`);
    const opened = await openWebGpuAdapter({
      allowSoftwareAdapter: options.allowSoftwareAdapter,
      timeoutMs: options.adapterTimeoutMs,
    });
    let ctx: GpuContext;
    try {
      ctx = new GpuContext('webgpu', new gpu.GPU({ mode: 'webgpu' }), opened.info, opened.restoreNavigator);
    } catch (e) {
      opened.restoreNavigator();
      throw new Error(`gpu backend: GPU.js refused webgpu mode: ${(e as Error).message}`);
    }
    webgpuContexts++;
    // Acquire the device now (GPU.js does it on the first kernel call) so that failures surface here.
    try {
      const probe = ctx.upload(new Float32Array([1, 2, 3]));
      const back = await probe.read();
      if (back[0] !== 1 || back[1] !== 2 || back[2] !== 3)
        throw new Error(`device round trip returned [${[...back].join(', ')}], expected [1, 2, 3]`);
    } catch (e) {
      await ctx.destroy();
      throw new Error(`gpu backend: the WebGPU device does not work: ${(e as Error).message}`);
    }
    return ctx;
  }

  get kernelCount(): number {
    return this.kernels.size;
  }

  private kernel(spec: KernelSpec): KernelFn {
    const constants = spec.constants ?? {};
    const key = `${spec.source}\u0000${JSON.stringify(constants)}\u0000${spec.size}`;
    let k = this.kernels.get(key);
    if (!k) {
      const instance = this.gpu;
      if (!instance) throw new Error('gpu backend: this GPU context was destroyed.');
      // Every loop bound is a constant (never cut); loopMaxIterations is set anyway, above every bound,
      // so a loop GPU.js might still treat as dynamic is never silently cut at the default 1000.
      let loopMax = 1000;
      for (const v of Object.values(constants)) if (Number.isInteger(v) && v >= loopMax) loopMax = v + 1;
      k = instance.createKernel(spec.source, {
        output: [spec.size],
        constants,
        loopMaxIterations: loopMax,
        // pipeline: results stay on the device as handles; immutable: every call gets its own output
        // buffer (without it the next call of this kernel would overwrite the previous result).
        pipeline: true,
        immutable: true,
        precision: 'single',
        tactic: 'precision',
      });
      this.kernels.set(key, k);
      this.stats.kernelsCompiled++;
    }
    return k;
  }

  /**
   * Queue a kernel on device values: the output's promise waits for the inputs', then runs the kernel.
   * Synchronous for the caller; shape errors must be thrown by the caller before this.
   */
  run(spec: KernelSpec, inputs: readonly GpuData[]): GpuData {
    checkGpuSize([spec.size], `${spec.name} output`);
    const kernel = this.kernel(spec);
    const slots = inputs.map((d, i) => {
      if (d.owner !== this)
        throw new Error(
          `${spec.name}: input ${i} belongs to another gpu context; all inputs of a kernel must come from the same backend instance.`,
        );
      return d.slot;
    });
    this.stats.kernelCalls++;
    const out = Promise.all(slots.map((s) => s.promise))
      .then(async (handles) => {
        const result = await kernel(...handles);
        // The input slots must stay reachable until the kernel has been submitted (in webgpu mode a
        // first call also awaits the kernel's build): a collected slot releases its device buffer.
        keepAlive(slots);
        return result;
      })
      .catch((e: unknown) => {
        const msg = e instanceof Error ? e.message : String(e);
        throw new Error(`gpu kernel '${spec.name}' failed: ${msg}`, { cause: e });
      });
    for (const s of slots) s.use(out);
    return new GpuData(this, out, spec.size);
  }

  /** Copy host values onto the device (the values are copied now; later changes to `values` do not matter). */
  upload(values: Float32Array): GpuData {
    checkGpuSize([values.length], 'upload');
    const kernel = this.kernel({ name: 'upload', source: copySource, size: values.length });
    this.stats.uploads++;
    let out: Promise<Handle>;
    try {
      // Called synchronously: GPU.js snapshots array arguments at call time.
      out = Promise.resolve(kernel(values));
    } catch (e) {
      out = Promise.reject(e);
    }
    return new GpuData(this, out, values.length);
  }

  async toHost(handle: Handle, size: number): Promise<Float32Array> {
    this.stats.reads++;
    if (handle instanceof Float32Array) return handle.slice(0, size);
    const h = handle as WebGpuHandle;
    if (h === null || typeof h !== 'object' || typeof h.toArray !== 'function') {
      throw new Error('gpu backend: a kernel returned something that is neither a device buffer nor a Float32Array.');
    }
    const values = await h.toArray();
    if (!(values instanceof Float32Array))
      throw new Error('gpu backend: a device read returned a non-flat array; kernels must have 1-D outputs.');
    return values.slice(0, size);
  }

  release(handle: Handle): void {
    if (handle instanceof Float32Array || handle === null || typeof handle !== 'object') return;
    const h = handle as WebGpuHandle;
    if (typeof h.delete === 'function') {
      try {
        h.delete();
      } catch {
        // the device may already be gone
      }
    }
  }

  /** Release every kernel; in webgpu mode destroy the device too (without it Node does not exit). */
  async destroy(): Promise<void> {
    const instance = this.gpu;
    if (!instance) return;
    this.gpu = null;
    this.kernels.clear();
    try {
      await instance.destroy();
    } catch {
      // best effort
    }
    if (this.mode === 'webgpu') {
      webgpuContexts--;
      if (webgpuContexts === 0) await gpu.WebGPUContext.destroy();
      this.restoreNavigator?.();
      this.restoreNavigator = null;
    }
  }
}
