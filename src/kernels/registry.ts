/**
 * The kernel registry: (kernel name × backend) → implementation, in the spirit of tfjs-core's
 * `kernel_registry.ts`. A backend registers its kernels here by name (the names and their inputs are
 * listed in ./kernelNames.ts); the engine (./engine.ts) looks them up. Nothing else calls a kernel.
 *
 * A kernel may decline a call (`accepts`): the WebAssembly backend does for inputs too small to pay for
 * the call, and the engine then tries the backend's fallback (for 'wasm', the 'js' reference kernels).
 */
import type { KernelAttrs, KernelFunc, KernelInput } from './types.js';

/** A kernel set: 'js' (the readable reference), 'wasm' (generated WebAssembly SIMD), 'gpu' (GPU.js), … */
export type BackendName = string;

export interface KernelConfig {
  kernelName: string;
  backendName: BackendName;
  kernelFunc: KernelFunc;
  /** False for calls this kernel declines (the engine goes on down the backend's fallback chain). */
  accepts?: (inputs: readonly KernelInput[], attrs: KernelAttrs) => boolean;
}

const registry = new Map<string, KernelConfig>();
const key = (kernelName: string, backendName: string) => `${backendName}_${kernelName}`;

export function registerKernel(config: KernelConfig): void {
  const k = key(config.kernelName, config.backendName);
  if (registry.has(k))
    throw new Error(
      `registerKernel: '${config.kernelName}' is already registered for backend '${config.backendName}'.`,
    );
  registry.set(k, config);
}

export function getKernel(kernelName: string, backendName: string): KernelConfig | undefined {
  return registry.get(key(kernelName, backendName));
}

/** All registered kernels of a backend (every backend's without an argument), for `sizeseg info` and tests. */
export function listKernels(backendName?: string): KernelConfig[] {
  return [...registry.values()].filter((c) => backendName === undefined || c.backendName === backendName);
}
