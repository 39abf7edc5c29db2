/**
 * ResUNet: a residual-encoder U-Net with a mirroring decoder. The default configuration is exactly
 * "ResUNet-lite" of the canonical benchmark (../shared/peers/SPEC.md):
 *
 *   stem   conv3×3(1→16)+BN+ReLU                                       48×32
 *   E1     BasicBlock 16→16, stride 1                                   48×32
 *   E2     BasicBlock 16→32, stride 2                                   24×16
 *   E3     BasicBlock 32→64, stride 2                                   12×8
 *   E4     BasicBlock 64→128, stride 2                                  6×4
 *   D3     up(E4) | E3 = 192 → 64 → 64   (two conv3×3+BN+ReLU)          12×8
 *   D2     up(D3) | E2 =  96 → 32 → 32                                  24×16
 *   D1     up(D2) | E1 =  48 → 16 → 16                                  48×32
 *   head   conv1×1(16→1, bias) → logits
 *
 * `widths` sets the channels per level (and so the depth): smaller models for tests and the quick demo.
 */
import { upsampleConcat } from '../autograd/ops/upsample.js';
import { Rng } from '../autograd/rng.js';
import type { DType } from '../autograd/dtype.js';
import type { Tensor } from '../autograd/tensor.js';
import { formatShape } from '../autograd/shape.js';
import { BasicBlock, Conv2d, ConvBnRelu } from './layers.js';
import { Module } from './module.js';

export interface ResUNetConfig {
  inChannels?: number;
  outChannels?: number;
  /** Channels per level, shallow to deep. Default [16, 32, 64, 128] (ResUNet-lite). */
  widths?: readonly number[];
  /** Seeded generator for the Kaiming initialisation. Default new Rng(0). */
  rng?: Rng;
  /**
   * Initial bias of the output layer. `logit(f)` for a foreground fraction f starts the network at the
   * right prior instead of p = ½ everywhere (Lin et al. 2017), which spares the first epochs of BCE
   * from merely learning that most pixels are background. Default 0.
   */
  headBias?: number;
  dtype?: DType;
}

class DecoderStage extends Module {
  readonly conv1: ConvBnRelu;
  readonly conv2: ConvBnRelu;

  constructor(deepChannels: number, skipChannels: number, outChannels: number, opts: { rng: Rng; dtype: DType }) {
    super();
    this.conv1 = this.registerModule('conv1', new ConvBnRelu(deepChannels + skipChannels, outChannels, opts));
    this.conv2 = this.registerModule('conv2', new ConvBnRelu(outChannels, outChannels, opts));
  }

  forward(x: Tensor): Tensor {
    throw new Error(
      `DecoderStage.forward needs the skip connection; call forwardWithSkip (got ${formatShape(x.shape)}).`,
    );
  }

  forwardWithSkip(deep: Tensor, skip: Tensor): Tensor {
    // concat([up(deep), skip]) as one op (one pass where the backend has the fused kernel)
    return this.conv2.forward(this.conv1.forward(upsampleConcat(deep, skip)));
  }
}

export class ResUNet extends Module {
  readonly config: Required<Omit<ResUNetConfig, 'rng' | 'headBias'>>;
  readonly stem: ConvBnRelu;
  readonly encoders: BasicBlock[];
  readonly decoders: DecoderStage[];
  readonly head: Conv2d;

  constructor(config: ResUNetConfig = {}) {
    super();
    const widths = [...(config.widths ?? [16, 32, 64, 128])];
    const inChannels = config.inChannels ?? 1;
    const outChannels = config.outChannels ?? 1;
    const dtype = config.dtype ?? 'float32';
    if (widths.length < 1 || widths.some((w) => !Number.isInteger(w) || w < 1)) {
      throw new Error(`ResUNet: widths must be a non-empty list of positive integers, got [${widths.join(', ')}].`);
    }
    this.config = { inChannels, outChannels, widths, dtype };
    const opts = { rng: config.rng ?? new Rng(0), dtype };
    this.stem = this.registerModule('stem', new ConvBnRelu(inChannels, widths[0]!, opts));
    this.encoders = widths.map((w, i) =>
      this.registerModule(
        `enc${i + 1}`,
        new BasicBlock(i === 0 ? widths[0]! : widths[i - 1]!, w, i === 0 ? 1 : 2, opts),
      ),
    );
    this.decoders = [];
    for (let i = widths.length - 2; i >= 0; i--) {
      // the deepest decoder takes the bottom encoder's output, the others the decoder below them: both have widths[i + 1] channels
      this.decoders.push(
        this.registerModule(`dec${i + 1}`, new DecoderStage(widths[i + 1]!, widths[i]!, widths[i]!, opts)),
      );
    }
    this.head = this.registerModule(
      'head',
      new Conv2d({ ...opts, inChannels: widths[0]!, outChannels, kernelSize: 1, bias: true }),
    );
    this.head.bias!.storage.fill(config.headBias ?? 0);
  }

  /** Logits [B, outChannels, H, W] for images [B, inChannels, H, W]; H and W divisible by 2^(levels−1). */
  forward(x: Tensor): Tensor {
    const levels = this.config.widths.length;
    const factor = 2 ** (levels - 1);
    if (
      x.rank !== 4 ||
      x.shape[1] !== this.config.inChannels ||
      (x.shape[2] as number) % factor !== 0 ||
      (x.shape[3] as number) % factor !== 0
    ) {
      throw new Error(
        `ResUNet.forward: expected images [B, ${this.config.inChannels}, H, W] with H and W divisible by ${factor} ` +
          `(${levels} levels), got ${formatShape(x.shape)}. Reshape single images with x.reshape(1, 1, H, W).`,
      );
    }
    const skips: Tensor[] = [];
    let h = this.stem.forward(x);
    for (const enc of this.encoders) {
      h = enc.forward(h);
      skips.push(h);
    }
    h = skips.pop()!;
    for (const dec of this.decoders) h = dec.forwardWithSkip(h, skips.pop()!);
    return this.head.forward(h);
  }
}
