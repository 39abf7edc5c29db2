/** Layers of the residual U-Net. Each holds its parameters and calls the differentiable functional ops. */
import { zeros, ones, randn } from '../autograd/creation.js';
import type { DType } from '../autograd/dtype.js';
import { addRelu, relu } from '../autograd/ops/elementwise.js';
import { isGradEnabled } from '../autograd/engine.js';
import { batchNorm2d, batchNorm2dAddRelu, batchNorm2dRelu } from '../autograd/ops/batchNorm2d.js';
import { conv2d } from '../autograd/ops/conv2d.js';
import { upsampleNearest2x } from '../autograd/ops/upsample.js';
import type { Rng } from '../autograd/rng.js';
import { Tensor } from '../autograd/tensor.js';
import { Module } from './module.js';

export interface LayerOptions {
  rng: Rng;
  dtype?: DType;
}

export interface Conv2dConfig extends LayerOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  padding?: number;
  bias?: boolean;
}

/** Convolution with Kaiming-normal weights (fan-in, gain √2 for ReLU), the He et al. 2015 initialisation. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;

  constructor(cfg: Conv2dConfig) {
    super();
    const { inChannels: c, outChannels: o, kernelSize: k, rng, dtype = 'float32' } = cfg;
    this.stride = cfg.stride ?? 1;
    this.padding = cfg.padding ?? 0;
    const std = Math.sqrt(2 / (c * k * k));
    this.weight = this.registerParameter('weight', randn([o, c, k, k], rng, { dtype }).mul(std).detach());
    this.bias = cfg.bias ? this.registerParameter('bias', zeros([o], { dtype })) : null;
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }

  /**
   * bn(this(x)) [then ReLU] for inference: eval-mode batch norm is a per-channel affine map, so it folds
   * into the convolution, w'[o] = w[o]·a_o and b'_o = β_o + a_o·(bias_o − μ_o) with a_o = γ_o/√(σ²_o + ε)
   * (computed in float64, rounded once to the weights' dtype), and the whole layer is one convolution pass.
   * Only while no gradient is recorded, in eval mode, on host tensors; otherwise the two (or three) ops.
   */
  forwardFolded(x: Tensor, bn: BatchNorm2d, reluAfter: boolean): Tensor {
    if (bn.training || isGradEnabled() || x.device || this.weight.device) {
      const y = bn.forward(this.forward(x));
      return reluAfter ? relu(y) : y;
    }
    const O = this.weight.shape[0] as number;
    const w = this.weight.values(),
      gamma = bn.gamma.values(),
      beta = bn.beta.values();
    const mean = bn.runningMean.values(),
      variance = bn.runningVar.values();
    const convBias = this.bias ? this.bias.values() : null;
    const perO = w.length / O;
    // folded in the weights' own dtype: a float64 network stays float64 (float32 storage cost it 1e-7 relative)
    const f64 = this.weight.dtype === 'float64';
    const wf = f64 ? new Float64Array(w.length) : new Float32Array(w.length);
    const bf = f64 ? new Float64Array(O) : new Float32Array(O);
    for (let o = 0; o < O; o++) {
      const a = (gamma[o] as number) / Math.sqrt((variance[o] as number) + bn.eps);
      for (let i = o * perO; i < (o + 1) * perO; i++) wf[i] = (w[i] as number) * a;
      bf[o] = (beta[o] as number) + a * ((convBias ? (convBias[o] as number) : 0) - (mean[o] as number));
    }
    return conv2d(x, new Tensor(wf, this.weight.shape), new Tensor(bf, [O]), {
      stride: this.stride,
      padding: this.padding,
      relu: reluAfter,
    });
  }
}

export class BatchNorm2d extends Module {
  readonly gamma: Tensor;
  readonly beta: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly momentum: number;
  readonly eps: number;

  constructor(channels: number, options: { dtype?: DType; momentum?: number; eps?: number } = {}) {
    super();
    const dtype = options.dtype ?? 'float32';
    this.momentum = options.momentum ?? 0.1;
    this.eps = options.eps ?? 1e-5;
    this.gamma = this.registerParameter('weight', ones([channels], { dtype }));
    this.beta = this.registerParameter('bias', zeros([channels], { dtype }));
    this.runningMean = this.registerBuffer('running_mean', zeros([channels], { dtype }));
    this.runningVar = this.registerBuffer('running_var', ones([channels], { dtype }));
  }

  forward(x: Tensor): Tensor {
    return batchNorm2d(x, this.gamma, this.beta, this.options());
  }

  /** relu(this.forward(x)) as one fused op (see batchNorm2dRelu). */
  forwardRelu(x: Tensor): Tensor {
    return batchNorm2dRelu(x, this.gamma, this.beta, this.options());
  }

  /**
   * relu(this.forward(x) + skip) — or relu(this.forward(x) + skipBn.forward(skip)) — a residual block's
   * output, as one fused op (see batchNorm2dAddRelu).
   */
  forwardAddRelu(x: Tensor, skip: Tensor, skipBn: BatchNorm2d | null = null): Tensor {
    const s = skipBn ? { x: skip, gamma: skipBn.gamma, beta: skipBn.beta, options: skipBn.options() } : skip;
    return batchNorm2dAddRelu(x, this.gamma, this.beta, this.options(), s);
  }

  private options() {
    return {
      training: this.training,
      runningMean: this.runningMean,
      runningVar: this.runningVar,
      momentum: this.momentum,
      eps: this.eps,
    };
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

export class UpsampleNearest extends Module {
  forward(x: Tensor): Tensor {
    return upsampleNearest2x(x);
  }
}

/** conv3×3 (no bias) → BN → ReLU: the decoder's unit. */
export class ConvBnRelu extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, opts: LayerOptions) {
    super();
    this.conv = this.registerModule(
      'conv',
      new Conv2d({ ...opts, inChannels, outChannels, kernelSize: 3, padding: 1 }),
    );
    this.bn = this.registerModule('bn', new BatchNorm2d(outChannels, opts));
  }

  forward(x: Tensor): Tensor {
    if (!this.training && !isGradEnabled()) return this.conv.forwardFolded(x, this.bn, true);
    return this.bn.forwardRelu(this.conv.forward(x));
  }
}

/**
 * The residual basic block of ResNet (He et al. 2016): conv3×3-BN-ReLU-conv3×3-BN plus a shortcut, then
 * ReLU. The shortcut is the identity, or conv1×1(stride)+BN when the shape changes.
 */
export class BasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly shortcutConv: Conv2d | null;
  readonly shortcutBn: BatchNorm2d | null;

  constructor(inChannels: number, outChannels: number, stride: number, opts: LayerOptions) {
    super();
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d({ ...opts, inChannels, outChannels, kernelSize: 3, stride, padding: 1 }),
    );
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(outChannels, opts));
    this.conv2 = this.registerModule(
      'conv2',
      new Conv2d({ ...opts, inChannels: outChannels, outChannels, kernelSize: 3, padding: 1 }),
    );
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(outChannels, opts));
    const project = stride !== 1 || inChannels !== outChannels;
    this.shortcutConv = project
      ? this.registerModule('shortcut_conv', new Conv2d({ ...opts, inChannels, outChannels, kernelSize: 1, stride }))
      : null;
    this.shortcutBn = project ? this.registerModule('shortcut_bn', new BatchNorm2d(outChannels, opts)) : null;
  }

  forward(x: Tensor): Tensor {
    if (!this.training && !isGradEnabled()) {
      // inference: every conv + batch norm (+ ReLU) is one folded convolution pass
      const h = this.conv1.forwardFolded(x, this.bn1, true);
      const main = this.conv2.forwardFolded(h, this.bn2, false);
      const skip =
        this.shortcutConv && this.shortcutBn ? this.shortcutConv.forwardFolded(x, this.shortcutBn, false) : x;
      return addRelu(main, skip);
    }
    const h = this.bn1.forwardRelu(this.conv1.forward(x));
    const main = this.conv2.forward(h);
    // bn2, the shortcut's batch norm, the addition and the ReLU: one pass over the block's output
    if (this.shortcutConv && this.shortcutBn)
      return this.bn2.forwardAddRelu(main, this.shortcutConv.forward(x), this.shortcutBn);
    return this.bn2.forwardAddRelu(main, x);
  }
}
