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

/** Make 'gpu' known to setBackend: WebGPU through GPU.js, with no fallback to a software adapter. */
export function registerGpuBackend(): void {
  registerBackendFactory('gpu', async () => createGpuBackend({ mode: 'webgpu' }));
}
