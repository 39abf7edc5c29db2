/**
 * sizeseg — learning to segment images from object sizes (Baručić & Kybic), from scratch in TypeScript.
 * The public API: tensors and autograd, the differentiable NN ops and their backends, the size estimators,
 * the residual U-Net with its optimisers, data loaders, and the two training phases.
 */
import './types/wasmNames.js'; // the WebAssembly type names the published declarations use, for apps without DOM types

// tensors and autograd
export {
  Tensor,
  Rng,
  noGrad,
  isGradEnabled,
  tensor,
  zeros,
  ones,
  full,
  arange,
  randn,
  rand,
  randLogistic,
  toNdarray,
  fromNdarray,
  defineOp,
  gradcheck,
  add,
  sub,
  mul,
  div,
  pow,
  neg,
  exp,
  log,
  sqrt,
  abs,
  sigmoid,
  relu,
  tanh,
  softplus,
  clamp,
  maximum,
  where,
  sum,
  mean,
  max,
  matmul,
  reshape,
  permute,
  transpose,
  slice,
  concat,
  pad,
  expand,
  squeeze,
  unsqueeze,
  contiguous,
  bceWithLogits,
  mse,
  toHost,
} from './autograd/index.js';
export type {
  DType,
  TypedArray,
  TensorLike,
  TensorOptions,
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
export { conv2d, conv2dOutputSize, type Conv2dOptions } from './autograd/ops/conv2d.js';
export { batchNorm2d, type BatchNorm2dOptions } from './autograd/ops/batchNorm2d.js';
export { upsampleNearest2x } from './autograd/ops/upsample.js';
export { registerKernel, getKernel, listKernels, type KernelConfig, type BackendName } from './kernels/registry.js';
export { runKernel, hasKernel } from './autograd/kernel.js';
export {
  profileKernels,
  scope,
  keep,
  beginScope,
  registerKernelBackend,
  kernelBackend,
  hostBackend,
  setHostBackend,
  cpuKernels,
  setCpuKernels,
  type KernelTime,
  type KernelBackend,
  type ScopeHandle,
  type CpuKernelSet,
} from './kernels/engine.js';
export type { KernelFunc, KernelInput, KernelOutput, KernelAttrs } from './kernels/types.js';
export {
  setBackend,
  getBackend,
  backendInstance,
  registerBackendFactory,
  disposeBackends,
  type Backend,
} from './backend.js';
export { setNumThreads, getNumThreads } from './kernels/wasm/threads.js';
export { setConvAlgorithm, getConvAlgorithm, type ConvAlgorithm } from './kernels/wasm/winogradConv.js';
export {
  setFusedMultiplyAdd,
  getFusedMultiplyAdd,
  fusedMultiplyAddActive,
  type FusedMultiplyAddMode,
} from './kernels/wasm/multiplyAdd.js';
export { openStepArena, withStepArena, type StepArena } from './kernels/engine.js';
export { registerGpuBackend, createGpuBackend, type GpuBackend, type GpuBackendOptions } from './kernels/gpu/index.js';
import './kernels/wasm/index.js'; // the host kernel backends: 'wasm', and 'js' as its fallback
import './kernels/wasm/nodeThreads.js'; // this is the Node entry: the WebAssembly kernels get Node's worker threads
import { registerGpuBackend } from './kernels/gpu/index.js';

// 'gpu' becomes selectable with `await setBackend('gpu')`; nothing touches a GPU before that.
registerGpuBackend();

// the size estimators
export {
  chebyshevDistanceTransform,
  chebyshevDistanceTransformBatch,
  objectSize,
  finiteSize,
  allForegroundSize,
  lemma1Gradient,
  exactSizeLoss,
  reinforceGradient,
  straightThroughGradient,
  sizeLossForwardBackward,
  sampleBernoulliMasks,
} from './estimators/index.js';
export { sizeLoss, type SizeLossOpOptions } from './estimators/sizeLossOp.js';

// models and optimisers
export { Module, type StateDict } from './models/module.js';
export { Conv2d, BatchNorm2d, ReLU, UpsampleNearest, BasicBlock, ConvBnRelu } from './models/layers.js';
export { ResUNet, type ResUNetConfig } from './models/resunet.js';
export { SGD, Adam, type SGDOptions, type AdamOptions, type AdamState } from './models/optim.js';

// data, training, metrics
export {
  loadDataset,
  indicesOf,
  makeBatch,
  batchIterator,
  selectAnnotated,
  generateSynthetic,
  loadPrepared,
  loadMsd,
  readNifti,
} from './data/index.js';
export type { SegDataset, Batch } from './data/index.js';
export { cacheRoot, cachedDatasetPath, downloadDataset } from './data/index.js';
export { trainStep, type StepLoss, type StepResult, type StepOptimizer } from './train/step.js';
export {
  pretrain,
  sizetrain,
  evaluate,
  predictLogits,
  type TrainResult,
  type EpochRecord,
  type TrainObserver,
} from './train/trainer.js';
export { saveCheckpoint, readCheckpoint, loadCheckpointInto } from './train/checkpoint.js';
export { iouOf, diceOf, sizeErrorOf, thresholdLogits, MetricAccumulator, type SegMetrics } from './train/metrics.js';

// ONNX export (eval mode, batch norm folded; no Node API)
export { exportOnnx, ONNX_INPUT, ONNX_OUTPUT, ONNX_OPSET, type OnnxExportOptions } from './export/onnx.js';
