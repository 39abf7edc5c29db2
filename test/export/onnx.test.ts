/**
 * ONNX export: onnxruntime-web (WebAssembly, in Node) runs the exported bytes and gives sizeseg's eval-mode
 * logits, and an unfolded float64 forward pass's, within 1e-5 of the logits' scale, for several widths and
 * for batch sizes the export never saw; the graph is checked with onnx.proto's own decoder.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { noGrad } from '../../src/autograd/engine.js';
import { Rng } from '../../src/autograd/rng.js';
import { Tensor } from '../../src/autograd/tensor.js';
import { ONNX_INPUT, ONNX_OUTPUT, exportOnnx } from '../../src/export/onnx.js';
import { SIZESEG_VERSION } from '../../src/export/version.js';
import { generateSynthetic } from '../../src/data/synthetic.js';
import { Conv2d } from '../../src/models/layers.js';
import { ResUNet } from '../../src/models/resunet.js';
import { applyCheckpoint, readCheckpoint } from '../../src/train/checkpoint.js';
import { decodeOnnx, normals, onnxProto, ort, randomiseBatchNorm, runOnnx, type DecodedValueInfo } from './_onnx.js';

/** ‖a − b‖∞ / ‖b‖∞: the error relative to the logits' scale. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0,
    scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / scale;
}

function trainedLookingModel(widths: number[], seed: number): ResUNet {
  const model = new ResUNet({ widths, rng: new Rng(seed), headBias: -1.5 });
  randomiseBatchNorm(model, new Rng(seed + 100));
  return model.eval();
}

/** The same network in float64, run in eval mode with gradients recorded: batch norm as its own op, not folded. */
function float64Logits(model: ResUNet, images: Float32Array, dims: number[]): ArrayLike<number> {
  const twin = new ResUNet({ widths: [...model.config.widths], dtype: 'float64' });
  twin.loadStateDict(model.stateDict());
  twin.eval();
  return twin.forward(new Tensor(Float64Array.from(images), dims)).values();
}

const shapeOf = (v: DecodedValueInfo) => v.type.tensorType.shape.dim.map((d) => d.dimParam ?? d.dimValue);

describe("exportOnnx: onnxruntime-web gives sizeseg's eval-mode logits", () => {
  const cases = [
    { widths: [4], height: 8, width: 6, batches: [1, 4] }, // one level: no decoder, no Resize
    { widths: [4, 8, 16], height: 16, width: 12, batches: [2, 5] },
    { widths: [6, 12, 24, 48], height: 24, width: 16, batches: [1, 3] },
    { widths: [16, 32, 64, 128], height: 48, width: 32, batches: [2] }, // ResUNet-lite at the data's size
  ];
  for (const { widths, height, width, batches } of cases) {
    it(`widths [${widths.join(', ')}] at ${height}×${width}, batches ${batches.join(' and ')}`, async () => {
      const model = trainedLookingModel(widths, widths.length);
      const bytes = exportOnnx(model, { height, width });
      for (const n of batches) {
        const dims = [n, 1, height, width];
        const images = normals(n * height * width, new Rng(7 * n + widths.length));
        const got = await runOnnx(bytes, images, dims);
        expect(got.dims).toEqual(dims);
        const own = noGrad(() => model.forward(new Tensor(images, dims))).values(); // sizeseg's eval path (folded, float32)
        const exact = float64Logits(model, images, dims);
        expect(relativeError(got.values, own)).toBeLessThan(1e-5);
        expect(relativeError(got.values, exact)).toBeLessThan(1e-5);
        // the batch norm statistics matter: the same network with fresh statistics gives other logits
        expect(
          relativeError(
            got.values,
            noGrad(() =>
              new ResUNet({ widths, rng: new Rng(widths.length), headBias: -1.5 })
                .eval()
                .forward(new Tensor(images, dims)),
            ).values(),
          ),
        ).toBeGreaterThan(0.05);
      }
    });
  }
});

describe('exportOnnx: a network trained on the hippocampus slices', () => {
  it('the committed Fig. 7 ResUNet-lite (m = 10, seed 0) gives the same logits in onnxruntime-web, batch 6', async () => {
    const path = 'docs/figures/results/fig7-paper/runs/m10-s0/pretrained.ckpt';
    const loaded = readCheckpoint(path);
    const model = new ResUNet({ widths: loaded.header.config.widths as number[] });
    applyCheckpoint(loaded, model, path);
    model.eval();
    const ds = generateSynthetic({ count: 6, seed: 1 }); // 48×32 images with objects in them, on every clone
    const dims = [6, 1, 48, 32];
    const got = await runOnnx(exportOnnx(model), ds.images, dims);
    const own = noGrad(() => model.forward(new Tensor(ds.images, dims))).values();
    expect(relativeError(got.values, own)).toBeLessThan(1e-5);
    expect(relativeError(got.values, float64Logits(model, ds.images, dims))).toBeLessThan(1e-5);
    // and the same masks: no pixel changes side of the threshold
    expect([...got.values].map((v) => v > 0)).toEqual([...own].map((v) => (v as number) > 0));
  });
});

describe('exportOnnx: the graph', () => {
  const model = trainedLookingModel([4, 8, 16], 1);
  const bytes = exportOnnx(model, { height: 16, width: 12, metadata: { 'sizeseg.note': 'test' } });
  const decoded = decodeOnnx(bytes);
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

  it('opset 13 of the default domain, IR version 7, producer sizeseg at the package version', () => {
    expect(decoded.irVersion).toBe(7);
    expect(decoded.opsetImport).toEqual([{ domain: '', version: 13 }]);
    expect(decoded.producerName).toBe('sizeseg');
    expect(decoded.producerVersion).toBe(pkg.version);
    expect(SIZESEG_VERSION).toBe(pkg.version);
  });

  it('input images [N, 1, H, W] and output logits [N, 1, H, W], float32, N symbolic', () => {
    expect(decoded.graph.input.map((v) => v.name)).toEqual([ONNX_INPUT]);
    expect(decoded.graph.output.map((v) => v.name)).toEqual([ONNX_OUTPUT]);
    expect(shapeOf(decoded.graph.input[0]!)).toEqual(['N', 1, 16, 12]);
    expect(shapeOf(decoded.graph.output[0]!)).toEqual(['N', 1, 16, 12]);
    expect(decoded.graph.input[0]!.type.tensorType.elemType).toBe(1); // FLOAT
  });

  it('batch norm is folded: Conv, Relu, Add, Resize and Concat only, in topological order', () => {
    const count = (op: string) => decoded.graph.node.filter((n) => n.opType === op).length;
    // stem 1; enc1 (4→4) 2 convs, enc2 and enc3 2 + a shortcut each; 2 decoders × 2; head 1
    expect(count('Conv')).toBe(1 + 2 + 3 + 3 + 4 + 1);
    expect(count('Resize')).toBe(2);
    expect(count('Concat')).toBe(2);
    expect(count('Add')).toBe(3);
    expect(new Set(decoded.graph.node.map((n) => n.opType))).toEqual(
      new Set(['Conv', 'Relu', 'Add', 'Resize', 'Concat']),
    );
    const known = new Set([ONNX_INPUT, '', ...decoded.graph.initializer.map((t) => t.name)]);
    for (const node of decoded.graph.node) {
      for (const input of node.input)
        expect(known.has(input), `${node.name} reads ${input} before it is computed`).toBe(true);
      for (const output of node.output) known.add(output);
    }
    expect(known.has(ONNX_OUTPUT)).toBe(true);
  });

  it('folded weights are the float64 fold of the stored weights, rounded once', () => {
    const init = new Map(decoded.graph.initializer.map((t) => [t.name, t]));
    const floats = (name: string) => {
      const t = init.get(name)!;
      expect(t.dataType).toBe(1);
      return new Float32Array(t.rawData.slice().buffer);
    };
    const conv = model.encoders[1]!.conv1,
      bn = model.encoders[1]!.bn1;
    const w = conv.weight.values(),
      g = bn.gamma.values(),
      b = bn.beta.values(),
      mu = bn.runningMean.values(),
      v = bn.runningVar.values();
    const weight = floats('enc2.conv1.weight'),
      bias = floats('enc2.conv1.bias');
    expect(init.get('enc2.conv1.weight')!.dims).toEqual([8, 4, 3, 3]);
    for (let o = 0; o < 8; o++) {
      const a = g[o]! / Math.sqrt(v[o]! + 1e-5);
      expect(bias[o]).toBe(Math.fround(b[o]! - a * mu[o]!));
      for (let i = 0; i < 36; i++) expect(weight[o * 36 + i]).toBe(Math.fround(w[o * 36 + i]! * a));
    }
    // the head keeps its own weights and bias
    expect([...floats('head.weight')]).toEqual([...model.head.weight.values()]);
    expect([...floats('head.bias')]).toEqual([...model.head.bias!.values()]);
  });

  it('metadata: the sizeseg version, the model, input and output, and what the caller adds', () => {
    const meta = Object.fromEntries(decoded.metadataProps.map((p) => [p.key, p.value]));
    expect(meta['sizeseg.version']).toBe(pkg.version);
    expect(JSON.parse(meta['sizeseg.model']!)).toEqual({
      architecture: 'ResUNet',
      widths: [4, 8, 16],
      inChannels: 1,
      outChannels: 1,
    });
    expect(meta['sizeseg.input']).toMatch(/^images: float32 \[N, 1, 16, 12\]/);
    expect(meta['sizeseg.note']).toBe('test');
  });

  it("onnxruntime-web checks the graph's shapes on load: a declared output shape inference disagrees with is refused", async () => {
    const message = onnxProto.ModelProto.decode(bytes);
    message.graph!.output![0]!.type!.tensorType!.shape!.dim![2]!.dimValue = 17;
    const edited = onnxProto.ModelProto.encode(message).finish();
    await expect(ort.InferenceSession.create(edited)).rejects.toThrow(/ShapeInferenceError/);
    await expect(ort.InferenceSession.create(bytes)).resolves.toBeDefined();
  });
});

describe('exportOnnx: errors', () => {
  it('a model that is not a ResUNet', () => {
    const conv = new Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 3, rng: new Rng(0) });
    expect(() => exportOnnx(conv as unknown as ResUNet)).toThrow(/expected a ResUNet, got Conv2d/);
  });

  it('an image size the levels cannot halve', () => {
    const model = new ResUNet({ widths: [2, 4, 8] });
    expect(() => exportOnnx(model, { height: 18, width: 12 })).toThrow(
      /height must be a positive multiple of 4 for 3 levels.*got 18/,
    );
    expect(() => exportOnnx(model, { height: 16, width: 0 })).toThrow(/width must be a positive multiple of 4/);
  });

  it('non-finite weights (a diverged run) are refused rather than exported as NaN logits', () => {
    const model = new ResUNet({ widths: [2, 4] });
    model.encoders[1]!.bn2.runningVar.storage[0] = -1; // √(σ² + ε) of a negative number
    expect(() => exportOnnx(model)).toThrow(/layer enc2.conv2 has non-finite weights/);
  });
});
