/**
 * The 'wasm' backend: WebAssembly SIMD kernels generated per shape from TypeScript (see docs/kernels.md).
 * Importing this module registers it (and 'js', its fallback) with the engine.
 */
import './register.js';

export { registerWasmBackend } from './register.js';
export { wasmSimdAvailable, kernelCacheStats } from './runtime.js';
export { conv2dForwardWasm, conv2dBackwardInputWasm, conv2dBackwardWeightWasm } from './conv2d.js';
export { getConvAlgorithm, setConvAlgorithm, type ConvAlgorithm } from './winogradConv.js';
export {
  getFusedMultiplyAdd,
  setFusedMultiplyAdd,
  fusedMultiplyAddActive,
  relaxedSimdAvailable,
  type FusedMultiplyAddMode,
} from './multiplyAdd.js';
