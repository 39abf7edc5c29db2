/**
 * The 'gpu' backend: GPU.js kernels, on WebGPU (mode 'webgpu'), or — for tests and CI on machines
 * without a GPU — the same kernel sources in GPU.js's CPU mode (mode 'cpu', reported as 'gpujs-cpu'
 * emulation). Tensors on it live on the device (`Tensor.device` is a GpuData); read them with
 * `await t.data()`.
 */
import type { Backend } from '../../backend.js';
import { Tensor } from '../../autograd/tensor.js';
import { GpuContext, type GpuContextOptions, type GpuMode } from './context.js';
import { GpuData } from './deviceData.js';
import { checkGpuSize, MAX_GPU_ELEMENTS } from './limits.js';
import { GPU_KERNEL_NAMES, registerGpuKernels } from './register.js';

export interface GpuBackendOptions extends GpuContextOptions {
  mode?: GpuMode;
}

export interface GpuBackend extends Backend {
  /** The GPU context (after init()). */
  readonly context: GpuContext;
  /** Like dispose(), but resolves once the device is destroyed (scripts should await it before exiting). */
  destroy(): Promise<void>;
}

const GPUJS_VERSION = '2.24.1';

export function createGpuBackend(options: GpuBackendOptions = {}): GpuBackend {
  const mode: GpuMode = options.mode ?? 'webgpu';
  if (mode !== 'webgpu' && mode !== 'cpu')
    throw new Error(`createGpuBackend: unknown mode '${String(mode)}'; use 'webgpu' (or 'cpu' for tests).`);
  let ctx: GpuContext | null = null;
  let opening: Promise<void> | null = null;
  const need = (what: string): GpuContext => {
    if (!ctx)
      throw new Error(
        `gpu backend: ${what} before init(); call await setBackend('gpu') (or await backend.init()) first.`,
      );
    return ctx;
  };
  const backend: GpuBackend = {
    name: 'gpu',
    get context() {
      return need('context');
    },
    init: () => {
      if (ctx) return Promise.resolve();
      opening ??= (async () => {
        registerGpuKernels();
        ctx = await GpuContext.create({ ...options, mode });
      })().finally(() => {
        opening = null;
      });
      return opening;
    },
    upload: (t: Tensor): Tensor => {
      if (t.device instanceof GpuData) return t;
      if (t.device)
        throw new Error(`gpu backend: ${t} lives on the '${t.device.backend}' backend; read it to the host first.`);
      if (t.dtype !== 'float32') {
        throw new Error(
          `gpu backend: upload needs a float32 tensor, got ${t}; GPU kernels compute in float32, convert with t.to('float32') first.`,
        );
      }
      checkGpuSize(t.shape, 'upload');
      const c = need('upload');
      const values = t.values() as Float32Array;
      return Tensor.onDevice(c.upload(values), t.shape);
    },
    info: () => ({
      backend: 'gpu',
      engine: `gpu.js ${GPUJS_VERSION}`,
      mode: mode === 'webgpu' ? 'webgpu' : 'gpujs-cpu (emulation for tests: GPU.js CPU mode, no GPU)',
      adapter: ctx?.adapter ?? null,
      maxElementsPerTensor: MAX_GPU_ELEMENTS,
      kernels: [...GPU_KERNEL_NAMES],
      compiledKernels: ctx?.kernelCount ?? 0,
      stats: ctx ? { ...ctx.stats } : null,
      initialised: ctx !== null,
    }),
    dispose: () => {
      void backend.destroy();
    },
    destroy: async () => {
      const c = ctx;
      ctx = null;
      if (c) await c.destroy();
    },
  };
  return backend;
}
