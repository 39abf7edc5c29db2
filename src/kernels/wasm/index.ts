/**
 * Which kernels the `cpu` backend runs for float32: the generated WebAssembly SIMD kernels ('wasm',
 * the default where the engine has WebAssembly SIMD and shared memory) or the hand-written JavaScript
 * ones ('js', the readable reference; also the only path for float64, which gradient checks need).
 * SIZESEG_KERNELS=js|wasm chooses at start-up; `setCpuKernels` at run time.
 */
import { wasmSimdAvailable } from './runtime.js';

export type CpuKernelSet = 'js' | 'wasm';

let chosen: CpuKernelSet | null = null;

function fromEnvironment(): CpuKernelSet {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['SIZESEG_KERNELS'];
  if (env !== undefined && env !== '') {
    if (env !== 'js' && env !== 'wasm') throw new Error(`SIZESEG_KERNELS must be 'js' or 'wasm', got '${env}'.`);
    if (env === 'wasm' && !wasmSimdAvailable()) {
      throw new Error('SIZESEG_KERNELS=wasm: this JavaScript engine has no WebAssembly SIMD with shared memory; unset it to use the JS kernels.');
    }
    return env;
  }
  return wasmSimdAvailable() ? 'wasm' : 'js';
}

/** The kernel set the cpu backend uses for float32 tensors. */
export function cpuKernels(): CpuKernelSet {
  if (chosen === null) chosen = fromEnvironment();
  return chosen;
}

/** Chooses the kernel set for float32 on the cpu backend ('wasm' needs WebAssembly SIMD). */
export function setCpuKernels(set: CpuKernelSet): void {
  if (set !== 'js' && set !== 'wasm') throw new Error(`setCpuKernels: expected 'js' or 'wasm', got '${String(set)}'.`);
  if (set === 'wasm' && !wasmSimdAvailable()) throw new Error('setCpuKernels: this engine has no WebAssembly SIMD with shared memory.');
  chosen = set;
}

/** True when a float32 operation should run on the WebAssembly kernels. */
export function useWasm(a: Float32Array | Float64Array): a is Float32Array {
  return a instanceof Float32Array && cpuKernels() === 'wasm';
}

export { wasmSimdAvailable, kernelCacheStats } from './runtime.js';
export { conv2dForwardWasm, conv2dBackwardInputWasm, conv2dBackwardWeightWasm } from './conv2d.js';
