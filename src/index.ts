/**
 * sizeseg — learning to segment images from object sizes (Baručić & Kybic), from scratch in TypeScript.
 * The Node entry: everything that runs anywhere (src/portable.ts, which the browser entry src/browser.ts
 * exports too), plus what needs Node or is for extending the library: kernel registration and backends
 * (the gpu backend's Node WebGPU binding), files and downloads, checkpoints on disk, the layers, and the
 * other gradient estimators.
 */
import './types/wasmNames.js'; // the WebAssembly type names the published declarations use, for apps without DOM types
import './kernels/wasm/nodeThreads.js'; // this is the Node entry: the WebAssembly kernels get Node's worker threads
import { registerGpuBackend } from './kernels/gpu/index.js';

export * from './portable.js';

// tensors and autograd
export { toNdarray, fromNdarray, toHost } from './autograd/index.js';
export type {
  BackwardOptions,
  OpContext,
  OpDefinition,
  CustomOp,
  GradcheckOptions,
  GradcheckReport,
  Reduction,
} from './autograd/index.js';
export type { DeviceData } from './autograd/tensor.js';

// NN ops, kernels and backends
export { conv2dOutputSize, type Conv2dOptions } from './autograd/ops/conv2d.js';
export type { BatchNorm2dOptions } from './autograd/ops/batchNorm2d.js';
export { registerKernel, getKernel, listKernels, type KernelConfig, type BackendName } from './kernels/registry.js';
export { runKernel, hasKernel } from './autograd/kernel.js';
export {
  registerKernelBackend,
  kernelBackend,
  hostBackend,
  setHostBackend,
  type KernelTime,
  type KernelBackend,
} from './kernels/engine.js';
export type { KernelFunc, KernelInput, KernelOutput, KernelAttrs } from './kernels/types.js';
export { setBackend, backendInstance, registerBackendFactory, disposeBackends, type Backend } from './backend.js';
export { registerGpuBackend, createGpuBackend, type GpuBackend, type GpuBackendOptions } from './kernels/gpu/index.js';

// 'gpu' becomes selectable with `await setBackend('gpu')`; nothing touches a GPU before that.
registerGpuBackend();

// the other gradient estimators (the size loss's is in portable.ts)
export { reinforceGradient, straightThroughGradient } from './estimators/index.js';
export type { SizeLossOpOptions } from './estimators/sizeLossOp.js';

// models and optimisers
export type { StateDict } from './models/module.js';
export { Conv2d, BatchNorm2d, ReLU, UpsampleNearest, BasicBlock, ConvBnRelu } from './models/layers.js';
export type { SGDOptions, AdamOptions, AdamState } from './models/optim.js';

// data from files and downloads, training steps, checkpoints on disk, metrics
export {
  loadDataset,
  loadPrepared,
  loadMsd,
  readNifti,
  cacheRoot,
  cachedDatasetPath,
  downloadDataset,
} from './data/index.js';
export { trainStep, type StepLoss, type StepResult, type StepOptimizer } from './train/step.js';
export { saveCheckpoint, readCheckpoint, loadCheckpointInto } from './train/checkpoint.js';
export { MetricAccumulator } from './train/metrics.js';
