/**
 * ONNX export of a ResUNet in eval mode: `exportOnnx(model)` returns the bytes of an .onnx file that
 * onnxruntime (Python, C++, C#, onnxruntime-web in a page) runs with the logits sizeseg computes. No Node
 * API here: the web page exports the network it trained with the same function.
 *
 * The graph (opset 13, IR version 7, so runtimes from 2020 on load it):
 *
 *   input  `images`  float32 [N, inChannels, H, W]   N symbolic ("N"), H and W fixed to the trained size
 *   output `logits`  float32 [N, outChannels, H, W]  sigmoid(logits) > ½ is the foreground mask
 *
 *   every conv + batch norm (+ ReLU)   → Conv with the batch norm folded in (+ Relu)
 *   BasicBlock                         → Conv, Relu, Conv, [shortcut Conv], Add, Relu
 *   decoder: upsample ×2, concat skip  → Resize (nearest, asymmetric, floor: pixel (y, x) copies (⌊y/2⌋, ⌊x/2⌋)), Concat
 *
 * Batch norm is folded into the convolutions rather than written as BatchNormalization nodes: the export is
 * for inference, where batch norm is a fixed per-channel affine map; folded, ResUNet-lite's graph has 44 nodes
 * instead of 62, every runtime runs it without needing its own Conv+BN fusion, and it is the computation sizeseg's
 * own eval mode runs (Conv2d.forwardFolded), so the two agree as closely as float32 allows. The fold is
 * computed here in float64 from the stored float32 weights and rounded once:
 *   a_o = γ_o / √(σ²_o + ε),   w'[o] = w[o]·a_o,   b'_o = β_o + a_o·(bias_o − μ_o).
 */
import type { BatchNorm2d, Conv2d } from '../models/layers.js';
import { ResUNet } from '../models/resunet.js';
import { encodeModel, type OnnxNode, type OnnxTensor } from './onnxProto.js';
import { SIZESEG_VERSION } from './version.js';

/** The graph's input and output names (stable: deployment code refers to them). */
export const ONNX_INPUT = 'images';
export const ONNX_OUTPUT = 'logits';
export const ONNX_OPSET = 13;
/** IR version 7 is the one that goes with opset 13 (ONNX 1.8). */
export const ONNX_IR_VERSION = 7;
/** The input size of every dataset sizeseg loads (synthetic images and the hippocampus slices). */
export const DEFAULT_ONNX_SIZE = { height: 48, width: 32 } as const;

export interface OnnxExportOptions {
  /** The input's fixed height and width: the size the network was trained on. Default 48 × 32. */
  height?: number;
  width?: number;
  /** More metadata_props entries (key → value), e.g. the checkpoint's settings; the sizeseg.version, .model, .input and .output keys are the export's own. */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * The .onnx bytes of `model` in eval mode (batch norm with its running statistics, folded into the
 * convolutions). The model must be a ResUNet whose weights are on the host (`await model.toHost()` first for
 * a model on the gpu backend); its train/eval flag is not read or changed.
 */
export function exportOnnx(model: ResUNet, options: OnnxExportOptions = {}): Uint8Array {
  if (!(model instanceof ResUNet)) {
    throw new Error(`exportOnnx: expected a ResUNet, got ${describe(model)}; only sizeseg's ResUNet can be exported.`);
  }
  if (model.backend !== 'cpu') {
    throw new Error(
      `exportOnnx: the model's weights live on the '${model.backend}' backend; call 'await model.toHost()' first.`,
    );
  }
  const { widths, inChannels, outChannels } = model.config;
  const height = options.height ?? DEFAULT_ONNX_SIZE.height;
  const width = options.width ?? DEFAULT_ONNX_SIZE.width;
  const factor = 2 ** (widths.length - 1);
  for (const [name, v] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v % factor !== 0) {
      throw new Error(
        `exportOnnx: ${name} must be a positive multiple of ${factor} for ${widths.length} levels (widths [${widths.join(', ')}]), got ${v}.`,
      );
    }
  }
  const g = new GraphBuilder();
  const graph = buildGraph(g, model);
  const meta: Record<string, string> = {
    ...options.metadata, // first: the caller's entries never replace the ones below
    'sizeseg.version': SIZESEG_VERSION,
    'sizeseg.model': JSON.stringify({ architecture: 'ResUNet', widths, inChannels, outChannels }),
    'sizeseg.input': `${ONNX_INPUT}: float32 [N, ${inChannels}, ${height}, ${width}], preprocessed as the training images`,
    'sizeseg.output': `${ONNX_OUTPUT}: float32 [N, ${outChannels}, ${height}, ${width}]; foreground where logits > 0 (sigmoid > 0.5)`,
  };
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opsetVersion: ONNX_OPSET,
    producerName: 'sizeseg',
    producerVersion: SIZESEG_VERSION,
    docString: `sizeseg ResUNet (widths ${widths.join(', ')}) in eval mode, batch norm folded into the convolutions.`,
    graph: {
      name: 'sizeseg_resunet',
      docString: 'Segmentation logits of a residual U-Net trained with sizeseg.',
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [
        { name: ONNX_INPUT, shape: ['N', inChannels, height, width], docString: 'images, float32, N × C × H × W' },
      ],
      outputs: [
        {
          name: graph.output,
          shape: ['N', outChannels, height, width],
          docString: 'logits per pixel; sigmoid gives the foreground probability',
        },
      ],
    },
    metadata: Object.entries(meta).map(([key, value]) => ({ key, value })),
  });
}

/** Emits the ResUNet's forward pass (resunet.ts, layers.ts) as ONNX nodes, in eval mode. */
function buildGraph(g: GraphBuilder, model: ResUNet): { output: string } {
  let h = g.convFolded('stem', ONNX_INPUT, model.stem.conv, model.stem.bn, true);
  const skips: string[] = [];
  model.encoders.forEach((block, i) => {
    const name = `enc${i + 1}`;
    const t = g.convFolded(`${name}.conv1`, h, block.conv1, block.bn1, true);
    const main = g.convFolded(`${name}.conv2`, t, block.conv2, block.bn2, false);
    const skip =
      block.shortcutConv && block.shortcutBn
        ? g.convFolded(`${name}.shortcut`, h, block.shortcutConv, block.shortcutBn, false)
        : h;
    h = g.node('Relu', `${name}.relu`, [g.node('Add', `${name}.add`, [main, skip])]);
    skips.push(h);
  });
  h = skips.pop()!;
  model.decoders.forEach((dec, i) => {
    const name = `dec${model.decoders.length - i}`; // registered as dec{level}: the deepest decoder first
    const up = g.node(
      'Resize',
      `${name}.up`,
      [h, '', g.scales()],
      [
        { name: 'mode', string: 'nearest' },
        { name: 'coordinate_transformation_mode', string: 'asymmetric' },
        { name: 'nearest_mode', string: 'floor' },
      ],
    );
    const cat = g.node('Concat', `${name}.concat`, [up, skips.pop()!], [{ name: 'axis', int: 1 }]);
    h = g.convFolded(
      `${name}.conv2`,
      g.convFolded(`${name}.conv1`, cat, dec.conv1.conv, dec.conv1.bn, true),
      dec.conv2.conv,
      dec.conv2.bn,
      true,
    );
  });
  g.conv('head', h, model.head, ONNX_OUTPUT);
  return { output: ONNX_OUTPUT };
}

class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private scalesName: string | null = null;

  /** A node with one output, named after the node; returns the output's name (or `output` if given). */
  node(
    opType: string,
    name: string,
    inputs: readonly string[],
    attributes: OnnxNode['attributes'] = [],
    output = name,
  ): string {
    this.nodes.push({ name, opType, inputs, outputs: [output], attributes });
    return output;
  }

  /** conv → batch norm (→ ReLU), as one Conv with folded weights (→ Relu). */
  convFolded(name: string, input: string, conv: Conv2d, bn: BatchNorm2d, relu: boolean): string {
    const { weight, bias } = foldBatchNorm(conv, bn, name);
    const y = this.convNode(name, input, conv, weight, bias, relu ? `${name}.conv` : name);
    return relu ? this.node('Relu', `${name}.relu`, [y], [], name) : y;
  }

  /** A plain convolution with its own weight and bias (the head). */
  conv(name: string, input: string, conv: Conv2d, output: string): string {
    const weight = Float32Array.from(conv.weight.values());
    const bias = conv.bias ? Float32Array.from(conv.bias.values()) : null;
    checkFinite(name, weight, bias);
    return this.convNode(name, input, conv, weight, bias, output);
  }

  /** The constant [1, 1, 2, 2] of every Resize, stored once. */
  scales(): string {
    if (this.scalesName === null) {
      this.scalesName = 'upsample_scales';
      this.initializers.push({ name: this.scalesName, dims: [4], data: Float32Array.of(1, 1, 2, 2) });
    }
    return this.scalesName;
  }

  private convNode(
    name: string,
    input: string,
    conv: Conv2d,
    weight: Float32Array,
    bias: Float32Array | null,
    output: string,
  ): string {
    const [o, c, kh, kw] = conv.weight.shape as [number, number, number, number];
    this.initializers.push({ name: `${name}.weight`, dims: [o, c, kh, kw], data: weight });
    const inputs = [input, `${name}.weight`];
    if (bias) {
      this.initializers.push({ name: `${name}.bias`, dims: [o], data: bias });
      inputs.push(`${name}.bias`);
    }
    const p = conv.padding,
      s = conv.stride;
    return this.node(
      'Conv',
      name,
      inputs,
      [
        { name: 'kernel_shape', ints: [kh, kw] },
        { name: 'pads', ints: [p, p, p, p] },
        { name: 'strides', ints: [s, s] },
        { name: 'dilations', ints: [1, 1] },
        { name: 'group', int: 1 },
      ],
      output,
    );
  }
}

/**
 * bn(conv(x)) = conv'(x) in eval mode, with conv' = (w·a, β + a·(bias − μ)), a = γ/√(σ² + ε): computed in
 * float64 from the stored values, rounded to float32 once.
 */
export function foldBatchNorm(
  conv: Conv2d,
  bn: BatchNorm2d,
  name = 'conv',
): { weight: Float32Array; bias: Float32Array } {
  const w = conv.weight.values(),
    gamma = bn.gamma.values(),
    beta = bn.beta.values();
  const mean = bn.runningMean.values(),
    variance = bn.runningVar.values();
  const convBias = conv.bias ? conv.bias.values() : null;
  const O = conv.weight.shape[0] as number;
  const perO = w.length / O;
  const weight = new Float32Array(w.length),
    bias = new Float32Array(O);
  for (let o = 0; o < O; o++) {
    const a = (gamma[o] as number) / Math.sqrt((variance[o] as number) + bn.eps);
    for (let i = o * perO; i < (o + 1) * perO; i++) weight[i] = (w[i] as number) * a;
    bias[o] = (beta[o] as number) + a * ((convBias ? (convBias[o] as number) : 0) - (mean[o] as number));
  }
  checkFinite(name, weight, bias);
  return { weight, bias };
}

/** A NaN or ±∞ weight (a diverged run, or a negative running variance) would make every logit NaN in the runtime. */
function checkFinite(name: string, weight: Float32Array, bias: Float32Array | null): void {
  const bad = [weight, bias ?? new Float32Array(0)].some((a) => a.some((v) => !Number.isFinite(v)));
  if (bad)
    throw new Error(
      `exportOnnx: layer ${name} has non-finite weights after folding its batch norm (a diverged training run?); export an earlier checkpoint (best.ckpt).`,
    );
}

function describe(x: unknown): string {
  if (x === null || typeof x !== 'object') return String(x);
  return (x as object).constructor?.name ?? 'an object';
}
