/**
 * Step arenas (src/kernels/wasm/arena.ts): inside one, tensors live in the kernels' shared memory and
 * kernels run without copies. The arena may change where values live, never what they are: training
 * steps inside arenas give bit-identical weights, losses and optimiser state to the same steps outside
 * (every kernel is deterministic, so any difference is a data-movement bug: aliasing, a stale block,
 * an unzeroed buffer). Tensors made inside a closed arena refuse to be read, and the memory is reused.
 */
import { describe, expect, it } from 'vitest';
import { Rng, Tensor, bceWithLogits, concat, noGrad } from '../../../src/index.js';
import { allocate } from '../../../src/autograd/dtype.js';
import { sizeLoss } from '../../../src/estimators/sizeLossOp.js';
import { generateSynthetic, makeBatch } from '../../../src/data/index.js';
import { ResUNet } from '../../../src/models/resunet.js';
import { Adam } from '../../../src/models/optim.js';
import { cpuKernels, setCpuKernels } from '../../../src/kernels/engine.js';
import { beginScope, keep, openStepArena, scope, withStepArena } from '../../../src/kernels/engine.js';
import { wasmMemory, wasmSimdAvailable } from '../../../src/kernels/wasm/runtime.js';
import { skipNote } from '../../_helpers/skipNote.js';

const noSimd = skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later');

const B = 6;
const ds = generateSynthetic({ count: B, seed: 5 });
const batch = makeBatch(
  ds,
  Array.from({ length: B }, (_, i) => i),
);
const x = new Tensor(batch.images, [B, 1, 48, 32]);
const target = new Tensor(Float32Array.from(batch.masks), [B, 1, 48, 32]);

interface Run {
  losses: number[];
  weights: Float32Array[];
  moments: Float32Array[];
  evalLogits: Float32Array;
}

/** Supervised then size-loss Adam steps (each in an arena or not), then an eval-mode forward. */
function train(arenas: boolean, steps: number): Run {
  const model = new ResUNet({ widths: [8, 16, 32], rng: new Rng(0) });
  const opt = new Adam(model.parameters(), { lr: 1e-3 });
  const sampler = new Rng(1);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const arena = arenas ? openStepArena() : null;
    if (arenas) expect(arena!.resident).toBe(true);
    try {
      opt.zeroGrad();
      const logits = model.forward(x);
      const loss =
        s < steps / 2 ? bceWithLogits(logits, target) : sizeLoss(logits, batch.sizes, { rng: sampler, method: 'fast' });
      loss.backward();
      opt.step();
      losses.push(loss.item());
    } finally {
      arena?.close();
    }
  }
  model.eval();
  const forward = () => Float32Array.from(noGrad(() => model.forward(x)).values());
  const evalLogits = arenas ? withStepArena(forward) : forward();
  const state = opt.stateDict();
  return {
    losses,
    weights: model.parameters().map((p) => Float32Array.from(p.values())),
    moments: [...state.m, ...state.v].map((a) => Float32Array.from(a ?? [])),
    evalLogits,
  };
}

describe.runIf(wasmSimdAvailable())('step arenas', noSimd, () => {
  it('change nothing but where values live: bit-identical losses, weights, Adam moments and eval logits', () => {
    const saved = cpuKernels();
    setCpuKernels('wasm');
    try {
      const plain = train(false, 4);
      const inArenas = train(true, 4);
      expect(inArenas.losses).toEqual(plain.losses);
      expect(inArenas.weights).toEqual(plain.weights);
      expect(inArenas.moments).toEqual(plain.moments);
      expect(inArenas.evalLogits).toEqual(plain.evalLogits);
      // and the steps did train (the comparison is not between two untouched models)
      expect(plain.losses[1]!).toBeLessThan(plain.losses[0]!);
    } finally {
      setCpuKernels(saved);
    }
  });

  it('release what they made: reading or back-propagating such a tensor later throws, and says why', () => {
    const saved = cpuKernels();
    setCpuKernels('wasm');
    try {
      const model = new ResUNet({ widths: [8, 16], rng: new Rng(2) });
      const w0 = Float32Array.from(model.parameters()[0]!.values());
      let logits: Tensor | null = null;
      let loss: Tensor | null = null;
      const arena = openStepArena();
      const before = arena.bytes;
      logits = model.forward(x);
      loss = bceWithLogits(logits, target);
      const value = loss.item();
      expect(arena.bytes).toBeGreaterThan(before);
      arena.close();
      expect(arena.bytes).toBe(0);
      expect(Number.isFinite(value)).toBe(true);
      expect(() => logits!.values()).toThrow(/scope that has ended/);
      expect(() => logits!.dataSync()).toThrow(/scope that has ended/);
      expect(() => logits!.reshape([B * 48 * 32])).toThrow(/scope that has ended/);
      expect(() => loss!.backward()).toThrow(/scope that has ended/);
      // parameters were made outside: untouched and readable
      expect(Float32Array.from(model.parameters()[0]!.values())).toEqual(w0);
      // a tensor made outside any arena is ordinary memory, readable after later arenas close
      const outside = noGrad(() => model.forward(x));
      withStepArena(() => noGrad(() => model.forward(x)));
      expect(outside.values().every(Number.isFinite)).toBe(true);
    } finally {
      setCpuKernels(saved);
    }
  });

  it('reuse their memory: the second step needs no more than the first, and the memory stops growing', () => {
    const saved = cpuKernels();
    setCpuKernels('wasm');
    try {
      const model = new ResUNet({ widths: [8, 16], rng: new Rng(3) });
      const opt = new Adam(model.parameters(), { lr: 1e-3 });
      const peaks: number[] = [];
      const memory: number[] = [];
      for (let s = 0; s < 3; s++) {
        const arena = openStepArena();
        opt.zeroGrad();
        bceWithLogits(model.forward(x), target).backward();
        opt.step();
        peaks.push(arena.bytes);
        arena.close();
        memory.push(wasmMemory().buffer.byteLength);
      }
      expect(peaks[0]!).toBeGreaterThan(0);
      expect(peaks[1]).toBe(peaks[0]);
      expect(peaks[2]).toBe(peaks[0]);
      expect(memory[2]).toBe(memory[1]);
    } finally {
      setCpuKernels(saved);
    }
  });

  it('hand out zeroed storage over memory an earlier step dirtied (any length), and concatenate into unzeroed storage correctly', () => {
    for (const n of [1, 3, 4, 17, 1000, 4099]) {
      const dirty = openStepArena();
      (allocate('float32', n + 64) as Float32Array).fill(7.5);
      dirty.close();
      const fresh = openStepArena();
      try {
        const z = allocate('float32', n) as Float32Array;
        expect(z.every((v) => v === 0)).toBe(true);
      } finally {
        fresh.close();
      }
    }
    // concat writes every element of storage that is not zeroed first: on dirty memory it must still equal
    // the concatenation made outside any arena
    // (parts of 15 and 10 floats per image: the copier's vector loop and its scalar tail; and the backward
    // pass's channel slices, made contiguous by the same copier)
    const a = new Tensor(
      Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => i),
      [2, 3, 5],
    );
    const b = new Tensor(
      Float32Array.from({ length: 2 * 2 * 5 }, (_, i) => -i),
      [2, 2, 5],
    );
    const weights = Float32Array.from({ length: 2 * 5 * 5 }, (_, i) => (i % 7) - 3);
    const run = () => {
      const pa = a.detach().requiresGrad_(),
        pb = b.detach().requiresGrad_();
      // ×1 makes the parts results of an op, so inside an arena they live in it, as a network's do
      const joined = concat([pa.mul(1), pb.mul(1)], 1);
      joined
        .mul(new Tensor(weights, [2, 5, 5]))
        .sum()
        .backward();
      return [joined.dataSync(), pa.grad!.dataSync(), pb.grad!.dataSync()].map((v) => Array.from(v));
    };
    const expected = run();
    const dirty = openStepArena();
    (allocate('float32', 4096) as Float32Array).fill(Number.NaN);
    dirty.close();
    expect(withStepArena(run)).toEqual(expected);
  });

  it('withStepArena hands back a tensor it returns as a copy in ordinary memory, readable after the arena', () => {
    const saved = cpuKernels();
    setCpuKernels('wasm');
    try {
      const model = new ResUNet({ widths: [8, 16], rng: new Rng(4) });
      model.eval();
      const inside = withStepArena(() => noGrad(() => model.forward(x)));
      const outside = noGrad(() => model.forward(x));
      withStepArena(() => noGrad(() => model.forward(x).mul(2))); // reuses the memory the first result came from
      expect(inside.shape).toEqual(outside.shape);
      expect(Float32Array.from(inside.values())).toEqual(Float32Array.from(outside.values()));
      expect(inside.gradNode).toBeNull();
    } finally {
      setCpuKernels(saved);
    }
  });

  it('nest: an inner scope releases what it made, the outer one what it made; kept tensors and results survive both', () => {
    const saved = cpuKernels();
    try {
      setCpuKernels('wasm');
      const outer = openStepArena();
      const fromOuter = new Tensor(new Float32Array([1, 2, 3]), [3]).add(1);
      const inner = beginScope();
      expect(outer.resident && inner.resident).toBe(true);
      const fromInner = fromOuter.add(1);
      const viewOfOuter = fromOuter.reshape([3, 1]); // made inside, but its memory is the outer scope's
      const kept = keep(fromOuter.mul(10));
      const returned = scope(() => fromInner.add(100));
      inner.end();
      expect(() => fromInner.values()).toThrow(/scope that has ended/);
      expect([...fromOuter.values()]).toEqual([2, 3, 4]); // the outer scope owns it
      expect([...viewOfOuter.values()]).toEqual([2, 3, 4]);
      expect([...kept.values()]).toEqual([20, 30, 40]);
      expect([...returned.values()]).toEqual([103, 104, 105]);
      outer.close();
      expect(() => fromOuter.values()).toThrow(/scope that has ended/);
      expect(() => viewOfOuter.values()).toThrow(/scope that has ended/);
      expect([...kept.values()]).toEqual([20, 30, 40]); // kept: moved into ordinary memory
      expect(kept.gradNode).toBeNull();
      // on the JS kernels a scope releases nothing: their tensors are ordinary arrays
      setCpuKernels('js');
      const js = openStepArena();
      expect(js.resident).toBe(false);
      const u = new Tensor(new Float32Array([1, 2]), [2]).add(1);
      js.close();
      expect([...u.values()]).toEqual([2, 3]);
    } finally {
      setCpuKernels(saved);
    }
  });
});
