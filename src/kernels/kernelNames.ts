/**
 * Every kernel name the ops call, with its inputs, attributes and outputs: the contract between the ops
 * (src/autograd/ops, src/models/optim.ts, src/estimators) and the backends that implement them. Inputs are
 * contiguous; NCHW for images. `fused: true` marks optional kernels: an op asks for them (`hasKernel`) and
 * composes the plain kernels where a backend has none. The 'js' backend implements every kernel that is not
 * fused (a test checks it), so any other backend may leave out what it likes by falling back to 'js'.
 */
export interface KernelSpec {
  inputs: string;
  attrs: string;
  outputs: string;
  fused?: true;
  /** Only on device backends: host tensors compute this op with the op's own loops. */
  deviceOnly?: true;
}

export const KERNELS: Readonly<Record<string, KernelSpec>> = {
  Conv2D: { inputs: 'x [N,C,H,W], w [O,C,KH,KW], (bias [O])', attrs: 'stride, padding', outputs: 'y [N,O,HO,WO]' },
  Conv2DRelu: { inputs: 'as Conv2D', attrs: 'stride, padding', outputs: 'max(conv, 0) (inference)', fused: true },
  Conv2DBackpropInput: { inputs: 'dy, w', attrs: 'stride, padding, xShape', outputs: 'dx' },
  Conv2DBackpropFilter: { inputs: 'dy, x', attrs: 'stride, padding, wShape', outputs: 'dw' },
  Conv2DBackpropBias: { inputs: 'dy', attrs: '', outputs: 'db [O]' },
  BatchNorm2D: {
    inputs: 'x, gamma, beta, runningMean, runningVar',
    attrs: 'training, momentum, eps',
    outputs: 'y, mean [C], invStd [C]; training: the running statistics updated in place',
  },
  BatchNorm2DRelu: {
    inputs: 'as BatchNorm2D',
    attrs: 'as BatchNorm2D',
    outputs: 'max(y, 0), mean, invStd',
    fused: true,
  },
  BatchNorm2DAddRelu: {
    inputs:
      "as BatchNorm2D, then skip (same shape as x), then optionally the skip's batch norm: gamma, beta, runningMean, runningVar",
    attrs: "as BatchNorm2D; with the skip's batch norm also skipMomentum, skipEps",
    outputs:
      "max(bn(x) + skip, 0) or max(bn(x) + bn'(skip), 0) (a residual block's output), mean, invStd (, skipMean, skipInvStd)",
    fused: true,
  },
  BatchNorm2DBackward: {
    inputs: 'dy, x, gamma, mean, invStd',
    attrs: '',
    outputs: 'dx, dgamma, dbeta (training mode)',
  },
  BatchNorm2DReluBackward: {
    inputs: 'dy, x, gamma, mean, invStd, y (the fused output: its mask applies to dy)',
    attrs: '',
    outputs: 'dx, dgamma, dbeta',
    fused: true,
  },
  BatchNorm2DEvalBackward: {
    inputs: 'dy, x, gamma, mean, invStd',
    attrs: '',
    outputs: 'dx, dgamma, dbeta (eval mode: constant statistics)',
  },
  UpsampleNearest2x: { inputs: 'x [N,C,H,W]', attrs: '', outputs: 'y [N,C,2H,2W]' },
  UpsampleNearest2xBackward: { inputs: 'dy [N,C,2H,2W]', attrs: '', outputs: 'dx [N,C,H,W] (2×2 block sums)' },
  UpsampleNearest2xConcat: {
    inputs: 'deep [N,Cd,H,W], skip [N,Cs,2H,2W]',
    attrs: '',
    outputs: 'concat([upsample(deep), skip], axis 1) [N,Cd+Cs,2H,2W] (a U-Net decoder input)',
    fused: true,
  },
  UpsampleNearest2xConcatBackward: {
    inputs: 'dy [N,Cd+Cs,2H,2W]',
    attrs: 'deepChannels (Cd)',
    outputs: 'dDeep [N,Cd,H,W] (2×2 block sums of dy[:, :Cd]), dSkip = dy[:, Cd:]',
    fused: true,
  },
  Relu: { inputs: 'x', attrs: '', outputs: 'max(x, 0)' },
  ReluBackward: { inputs: "dy, x (or the ReLU's output)", attrs: '', outputs: 'dy · (x > 0)' },
  Add: { inputs: 'a, b (equal shapes)', attrs: '', outputs: 'a + b' },
  AddRelu: { inputs: 'a, b (equal shapes)', attrs: '', outputs: 'max(a + b, 0)', fused: true },
  Mul: { inputs: 'a, b (equal shapes)', attrs: '', outputs: 'a · b', deviceOnly: true },
  ConcatChannels: { inputs: 'x0, x1, … [N,Ci,H,W]', attrs: '', outputs: 'concat on axis 1', deviceOnly: true },
  SliceChannels: {
    inputs: 'x [N,C,H,W]',
    attrs: 'start, channels',
    outputs: 'x[:, start:start+channels]',
    deviceOnly: true,
  },
  BatchMatMul: { inputs: 'a [B,M,K], b [B,K,N]', attrs: '', outputs: 'a @ b [B,M,N]' },
  AdamUpdate: {
    inputs: '[w, grad, m, v] × k (every parameter of a step)',
    attrs: 'lr, beta1, beta2, eps, weightDecay, decoupled, c1, c2',
    outputs: 'none: w, m, v updated in place',
  },
  SgdUpdate: {
    inputs: 'w, grad, (velocity)',
    attrs: 'lr, momentum, weightDecay, nesterov',
    outputs: 'none: w (and velocity) updated in place',
  },
  DistanceTransformBatch: {
    inputs: 'none',
    attrs: 'masks (Uint8Array, 0/1), batch, height, width',
    outputs: 'Chebyshev distances [batch,H,W] float32, +∞ for a mask without background',
    fused: true,
  },
};
