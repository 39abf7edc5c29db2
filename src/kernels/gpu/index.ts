/**
 * The gpu backend (GPU.js on WebGPU). `registerGpuBackend()` makes it selectable as
 * `await setBackend('gpu')` (src/backend.ts); nothing here touches the GPU until then.
 */
import { registerBackendFactory } from '../../backend.js';
import { createGpuBackend } from './backend.js';

export { createGpuBackend, type GpuBackend, type GpuBackendOptions } from './backend.js';
export { GpuContext, type GpuMode, type KernelSpec } from './context.js';
export { GpuData } from './deviceData.js';
export { MAX_GPU_ELEMENTS, checkGpuSize } from './limits.js';
export { registerGpuKernels, GPU_KERNEL_NAMES } from './register.js';
export { softwareAdapterReason, type AdapterInfo } from './webgpuDevice.js';

/**
 * Make 'gpu' known to setBackend: WebGPU through GPU.js, with no fallback to a software adapter.
 *
 * `SIZESEG_GPU_EMULATION=1` is an explicit opt-in for tests on machines without a GPU: the same kernels
 * run in GPU.js's CPU mode (slow; `sizeseg info` reports the mode), so the CLI's device path can be
 * exercised end to end in CI. It is never chosen automatically.
 */
export function registerGpuBackend(env: Record<string, string | undefined> = process.env): void {
  const emulate = (env.SIZESEG_GPU_EMULATION ?? '').trim();
  if (emulate !== '' && emulate !== '0' && emulate !== '1') {
    throw new Error(`SIZESEG_GPU_EMULATION='${emulate}': use 1 (GPU.js CPU mode, for tests) or leave it unset.`);
  }
  registerBackendFactory('gpu', async () => createGpuBackend({ mode: emulate === '1' ? 'cpu' : 'webgpu' }));
}
