/**
 * Whole training steps on the WebAssembly kernels: the same loss curve as on the JavaScript kernels
 * (which accumulate in float64, so the curves differ only by float32 rounding), and bit-identical
 * weights after supervised and size-loss steps on 1 and 2 threads (the work split never depends on the
 * thread count; see src/kernels/wasm/runtime.ts).
 */
import { describe, expect, it } from 'vitest';
import { Rng, Tensor, bceWithLogits } from '../../../src/index.js';
import { sizeLoss } from '../../../src/estimators/sizeLossOp.js';
import { generateSynthetic, makeBatch } from '../../../src/data/index.js';
import { ResUNet } from '../../../src/models/resunet.js';
import { Adam } from '../../../src/models/optim.js';
import { cpuKernels, setCpuKernels, type CpuKernelSet } from '../../../src/kernels/engine.js';
import { wasmSimdAvailable } from '../../../src/kernels/wasm/runtime.js';
import { getNumThreads, parallelRunCount, setNumThreads } from '../../../src/kernels/wasm/threads.js';
import { skipNote } from '../../_helpers/skipNote.js';

const noSimd = skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later');

const B = 8;
const ds = generateSynthetic({ count: B, seed: 3 });
const batch = makeBatch(
  ds,
  Array.from({ length: B }, (_, i) => i),
);
const x = new Tensor(batch.images, [B, 1, 48, 32]);
const target = new Tensor(Float32Array.from(batch.masks), [B, 1, 48, 32]);

/** Losses of `steps` Adam steps (supervised, then size loss) and the final weights. */
function train(kernels: CpuKernelSet, threads: number, steps: number): { losses: number[]; weights: Float32Array[] } {
  const savedKernels = cpuKernels(),
    savedThreads = getNumThreads();
  setCpuKernels(kernels);
  setNumThreads(threads);
  try {
    const model = new ResUNet({ widths: [8, 16, 32], rng: new Rng(0) });
    const opt = new Adam(model.parameters(), { lr: 1e-3 });
    const sampler = new Rng(1);
    const losses: number[] = [];
    for (let s = 0; s < steps; s++) {
      opt.zeroGrad();
      const logits = model.forward(x);
      const loss =
        s < steps / 2 ? bceWithLogits(logits, target) : sizeLoss(logits, batch.sizes, { rng: sampler, method: 'fast' });
      loss.backward();
      opt.step();
      losses.push(loss.item());
    }
    return { losses, weights: model.parameters().map((p) => (p.values() as Float32Array).slice()) };
  } finally {
    setCpuKernels(savedKernels);
    setNumThreads(savedThreads);
  }
}

describe.runIf(wasmSimdAvailable())('training on the WebAssembly kernels', noSimd, () => {
  it("follows the JavaScript kernels' loss curve (BCE steps, then size-loss steps)", () => {
    const js = train('js', 1, 6);
    const wasm = train('wasm', 2, 6);
    // BCE losses agree to float32 rounding amplified by a few Adam steps; the size loss is a squared
    // difference of object sizes of sampled masks (integers), equal unless a rounding flips a sample
    for (let s = 0; s < 3; s++) expect(Math.abs(wasm.losses[s]! - js.losses[s]!) / js.losses[s]!).toBeLessThan(1e-4);
    for (let s = 3; s < 6; s++) expect(Math.abs(wasm.losses[s]! - js.losses[s]!) / js.losses[s]!).toBeLessThan(0.05);
    expect(wasm.losses[2]!).toBeLessThan(wasm.losses[0]!);
  });

  it('gives bit-identical weights on 1 and 2 threads after supervised and size-loss steps', () => {
    const one = train('wasm', 1, 4);
    const before = parallelRunCount();
    const two = train('wasm', 2, 4);
    expect(parallelRunCount()).toBeGreaterThan(before); // the second run really used the worker
    expect(two.losses).toEqual(one.losses);
    one.weights.forEach((w, i) => expect(Buffer.from(two.weights[i]!.buffer).equals(Buffer.from(w.buffer))).toBe(true));
  });
});

describe.runIf(wasmSimdAvailable())('Adam on WebAssembly', noSimd, () => {
  it('updates weights and moments bit-identically to the JavaScript loop (float64 lanes, same operations)', () => {
    const run = (optimiserKernels: CpuKernelSet) => {
      const saved = cpuKernels();
      const model = new ResUNet({ widths: [4, 8], rng: new Rng(0) });
      const opt = new Adam(model.parameters(), { lr: 1e-2 });
      try {
        for (let s = 0; s < 3; s++) {
          setCpuKernels('wasm');
          opt.zeroGrad();
          bceWithLogits(model.forward(x), target).backward();
          setCpuKernels(optimiserKernels); // same gradients; only the optimiser's kernels differ
          opt.step();
        }
      } finally {
        setCpuKernels(saved);
      }
      const state = opt.stateDict() as { m: (Float32Array | null)[]; v: (Float32Array | null)[] };
      return [
        ...model.parameters().map((p) => (p.values() as Float32Array).slice()),
        ...state.m.map((a) => a!),
        ...state.v.map((a) => a!),
      ];
    };
    const wasm = run('wasm');
    const js = run('js');
    expect(wasm.length).toBe(js.length);
    wasm.forEach((a, i) =>
      expect(
        Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
          Buffer.from(js[i]!.buffer, js[i]!.byteOffset, js[i]!.byteLength),
        ),
      ).toBe(true),
    );
  });
});

describe('inference with batch norm folded into the convolutions', () => {
  it('gives the eval-mode outputs of the unfolded layers to float32 rounding, and conv2d({relu}) equals relu(conv2d)', async () => {
    const { noGrad, relu, conv2d } = await import('../../../src/index.js');
    const model = new ResUNet({ widths: [8, 16, 32], rng: new Rng(0) });
    const opt = new Adam(model.parameters(), { lr: 1e-2 });
    for (let s = 0; s < 2; s++) {
      opt.zeroGrad();
      bceWithLogits(model.forward(x), target).backward(); // moves the running statistics away from 0 / 1
      opt.step();
    }
    model.eval();
    const folded = noGrad(() => model.forward(x)).values();
    const plain = model.forward(x).values(); // gradients recorded: the unfolded ops
    let err = 0,
      scale = 0;
    for (let i = 0; i < plain.length; i++) {
      err = Math.max(err, Math.abs(folded[i]! - plain[i]!));
      scale = Math.max(scale, Math.abs(plain[i]!));
    }
    expect(err / scale).toBeLessThan(1e-5);
    expect(err).toBeGreaterThan(0); // really a different computation
    const w = model.stem.conv.weight;
    const fused = noGrad(() => conv2d(x, w, null, { padding: 1, relu: true })).values();
    const composed = noGrad(() => relu(conv2d(x, w, null, { padding: 1 }))).values();
    expect(Buffer.from(fused.buffer).equals(Buffer.from(composed.buffer))).toBe(true);
  });
});
