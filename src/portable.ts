/**
 * The part of sizeseg's public API that runs anywhere: tensors and autograd, the NN ops and the CPU kernels,
 * the size estimators, the model and its optimisers, data and checkpoints from bytes, training, metrics and the
 * ONNX export. Both entry points re-export all of it: src/index.ts (Node: adds files, downloads, worker threads,
 * the gpu backend) and src/browser.ts (a web page). Nothing here may need Node: `tsconfig.browser.json`
 * typechecks it through src/browser.ts with `lib: DOM` and no Node types.
 */
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
} from './autograd/index.js';
export type { DType, TypedArray, TensorLike, TensorOptions, RngState } from './autograd/index.js';

// NN ops and the CPU kernels
export { conv2d } from './autograd/ops/conv2d.js';
export { batchNorm2d } from './autograd/ops/batchNorm2d.js';
export { upsampleNearest2x } from './autograd/ops/upsample.js';
export { getBackend } from './backend.js';
export { setNumThreads, getNumThreads } from './kernels/wasm/threads.js';
export { setConvAlgorithm, getConvAlgorithm, type ConvAlgorithm } from './kernels/wasm/winogradConv.js';
export {
  setFusedMultiplyAdd,
  getFusedMultiplyAdd,
  fusedMultiplyAddActive,
  type FusedMultiplyAddMode,
} from './kernels/wasm/multiplyAdd.js';
export { openStepArena, withStepArena, type StepArena } from './kernels/engine.js';
export {
  cpuKernels,
  setCpuKernels,
  scope,
  keep,
  beginScope,
  profileKernels,
  type CpuKernelSet,
  type ScopeHandle,
} from './kernels/engine.js';
import './kernels/wasm/index.js'; // the host kernel backends: 'wasm', and 'js' as its fallback

// the size estimators
export {
  chebyshevDistanceTransform,
  chebyshevDistanceTransformBatch,
  objectSize,
  finiteSize,
  allForegroundSize,
  lemma1Gradient,
  exactSizeLoss,
  exactSizeLossUncertain,
  EXACT_MAX_PIXELS,
  sizeLossForwardBackward,
  sampleBernoulliMasks,
  stableSigmoid,
  DT_INF,
} from './estimators/index.js';
export { sizeLoss } from './estimators/sizeLossOp.js';

// models and optimisers
export { Module } from './models/module.js';
export { ResUNet, type ResUNetConfig } from './models/resunet.js';
export { SGD, Adam } from './models/optim.js';

// data (from bytes), training, metrics
export type { SegDataset, Batch } from './data/dataset.js';
export { indicesOf, makeBatch, batchIterator, selectAnnotated, volumeSplit, maskSizes } from './data/dataset.js';
export { generateSynthetic, SYNTHETIC_DEFAULTS } from './data/synthetic.js';
export { decodeNiftiBytes, parseNiftiHeader, isGzip, type NiftiVolume } from './data/niftiBytes.js';
export { slicesFromVolumes, type MsdVolumePair, type MsdSliceOptions } from './data/msdSlices.js';
export {
  pretrain,
  sizetrain,
  evaluate,
  predictLogits,
  type TrainResult,
  type EpochRecord,
  type TrainObserver,
} from './train/trainer.js';
export { DEFAULT_JOINT_LAMBDA, sizeTermImages, type JointOptions } from './train/joint.js';
export { iouOf, diceOf, sizeErrorOf, thresholdLogits, foregroundPriorLogit, type SegMetrics } from './train/metrics.js';
export {
  encodeCheckpoint,
  decodeCheckpoint,
  sha256Hex,
  type CheckpointInfo,
  type CheckpointEntry,
  type LoadedCheckpoint,
} from './train/checkpointBytes.js';

// ONNX export (eval mode, batch norm folded; no Node API)
export { exportOnnx, ONNX_INPUT, ONNX_OUTPUT, ONNX_OPSET, type OnnxExportOptions } from './export/onnx.js';
