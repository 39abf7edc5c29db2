/** The tensor and autograd core: everything else in sizeseg is built from these. */
export { Tensor, type TensorLike } from './tensor.js';
export type { DType, TypedArray } from './dtype.js';
export { Rng, type RngState } from './rng.js';
export { noGrad, isGradEnabled, type BackwardOptions } from './engine.js';
export {
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
  type TensorOptions,
} from './creation.js';
export { defineOp, type OpContext, type OpDefinition, type CustomOp } from './customOp.js';
export { gradcheck, type GradcheckOptions, type GradcheckReport } from './gradcheck.js';
export {
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
} from './ops/elementwise.js';
export { sum, mean, max } from './ops/reduce.js';
export { matmul } from './ops/matmul.js';
export {
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
} from './ops/shape.js';
export { bceWithLogits, mse, type Reduction } from './ops/loss.js';
export { toHost } from './ops/transfer.js';
