import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/rng.js';
import {
  lemma1Gradient,
  reinforceGradient,
  sampleBernoulliMasks,
  sizeLossForwardBackward,
  stableSigmoid,
  straightThroughGradient,
} from '../../src/estimators/index.js';
import { bruteSize, refLoss } from './_helpers.js';

/** The test's own sigmoid (same stable form as documented; written independently). */
function sig(a: number): number {
  return a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a));
}

describe('sizeLossForwardBackward', () => {
  it('equals the mean of lemma1Gradient over the same samples, chained through σ′ and divided by batch', () => {
    const H = 6;
    const W = 5;
    const V = H * W;
    const batch = 3;
    const n = 4;
    const init = new Rng(5);
    const logits = Float64Array.from({ length: batch * V }, () => 3 * init.normal());
    const targets = [4, 2, 6];
    const out = sizeLossForwardBackward(logits, batch, H, W, targets, { rng: new Rng(77), samples: n });

    // Reproduce the documented sampling order with a second generator of the same seed.
    const rng = new Rng(77);
    let lossSum = 0;
    for (let b = 0; b < batch; b++) {
      const p = Array.from({ length: V }, (_, i) => sig(logits[b * V + i] as number));
      const acc = new Float64Array(V);
      for (let k = 0; k < n; k++) {
        const y = Uint8Array.from(p, (pi) => (rng.uniform() < pi ? 1 : 0));
        if (k === 0) {
          lossSum += refLoss(targets[b] as number, bruteSize(y, H, W), H, W);
          expect(out.sampledSizes[b]).toBe(bruteSize(y, H, W));
        }
        const e = lemma1Gradient(y, H, W, targets[b] as number, { method: 'naive' });
        for (let i = 0; i < V; i++) acc[i] = (acc[i] as number) + (e[i] as number);
      }
      for (let i = 0; i < V; i++) {
        const pi = p[i] as number;
        const want = (((acc[i] as number) / n) * (pi * (1 - pi))) / batch;
        const got = out.gradLogits[b * V + i] as number;
        expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
      }
    }
    expect(out.loss).toBeCloseTo(lossSum / batch, 12);
    // The generator was advanced by exactly batch·n·V uniforms.
    const probe = new Rng(77);
    for (let j = 0; j < batch * n * V; j++) probe.uniform();
    const after = new Rng(77);
    sizeLossForwardBackward(logits, batch, H, W, targets, { rng: after, samples: n });
    expect(after.nextU32()).toBe(probe.nextU32());
    // Some gradient is non-zero (the test would be vacuous otherwise).
    expect(out.gradLogits.some((v) => v !== 0)).toBe(true);
  });

  it('accepts Float32 logits, naive and fast agree exactly, and extreme logits stay finite', () => {
    const H = 5;
    const W = 5;
    const logits = new Float32Array(2 * H * W);
    const r = new Rng(3);
    for (let i = 0; i < logits.length; i++) logits[i] = (r.uniform() - 0.5) * 2000; // saturating σ
    const a = sizeLossForwardBackward(logits, 2, H, W, [2, 8], { rng: new Rng(1), samples: 3, method: 'fast' });
    const b = sizeLossForwardBackward(logits, 2, H, W, [2, 8], { rng: new Rng(1), samples: 3, method: 'naive' });
    expect(a.gradLogits).toEqual(b.gradLogits);
    expect(a.loss).toBe(b.loss);
    expect(a.gradLogits.every((v) => Number.isFinite(v))).toBe(true);
    // All-foreground logits → +∞ rule in the loss, finite everywhere.
    const full = sizeLossForwardBackward(new Float32Array(H * W).fill(50), 1, H, W, [3], { rng: new Rng(1) });
    expect(full.sampledSizes[0]).toBe(Infinity);
    expect(full.loss).toBe((3 - 10) ** 2);
    expect(full.gradLogits.every((v) => Number.isFinite(v))).toBe(true);
  });

  it('stableSigmoid is accurate and never overflows', () => {
    expect(stableSigmoid(0)).toBe(0.5);
    expect(stableSigmoid(-1000)).toBe(0);
    expect(stableSigmoid(1000)).toBe(1);
    expect(stableSigmoid(-40)).toBeGreaterThan(0);
    expect(stableSigmoid(2)).toBeCloseTo(1 / (1 + Math.exp(-2)), 15);
  });

  it('sampleBernoulliMasks follows the documented order', () => {
    const p = [0.1, 0.9, 0.5, 0.5];
    const m = sampleBernoulliMasks(p, 3, 2, 2, new Rng(8));
    const r = new Rng(8);
    const want = Array.from({ length: 12 }, (_, j) => (r.uniform() < (p[j % 4] as number) ? 1 : 0));
    expect(Array.from(m)).toEqual(want);
  });

  it('rejects bad input', () => {
    const rng = new Rng(0);
    const f = sizeLossForwardBackward;
    expect(() => f(new Float64Array(6), 1, 2, 3, [1, 2], { rng })).toThrow(
      /targetSizes must have one size per image \(length 1\)/,
    );
    expect(() => f(new Float64Array(6), 1, 2, 3, [NaN], { rng })).toThrow(
      /targetSizes\[0\] must be a finite number ≥ 0 .*got NaN/,
    );
    expect(() => f(new Float64Array(6), 1, 2, 3, [-3], { rng })).toThrow(
      /targetSizes\[0\] must be a finite number ≥ 0 .*got -3/,
    );
    expect(() => f(new Float64Array(5), 1, 2, 3, [1], { rng })).toThrow(/logits has length 5 but batch×H×W/);
    expect(() => f(Float64Array.from([0, 0, NaN, 0, 0, 0]), 1, 2, 3, [1], { rng })).toThrow(
      /logits\[2\] \(image 0, pixel 2\) is NaN/,
    );
    expect(() => f(Float64Array.from([0, Infinity, 0, 0, 0, 0]), 1, 2, 3, [1], { rng })).toThrow(/must be finite/);
    expect(() => f(new Float64Array(6), 1, 2, 3, [1], { rng, samples: 0 })).toThrow(
      /samples must be a positive integer/,
    );
    expect(() => f(new Float64Array(6), 1, 2, 3, [1], {} as { rng: Rng })).toThrow(/options.rng .* is required/);
    expect(() => f(new Float64Array(6), 0, 2, 3, [], { rng })).toThrow(/batch must be a positive integer/);
  });
});

describe('baseline estimators: input validation and basic behaviour', () => {
  it('REINFORCE rejects missing probs, impossible samples, K = 1 with leave-one-out', () => {
    const y = Uint8Array.from([1, 0, 1, 0]);
    expect(() => reinforceGradient(y, 2, 2, 1, {} as { probs: Float64Array })).toThrow(/options.probs .* is required/);
    expect(() => reinforceGradient(y, 2, 2, 1, { probs: new Float64Array(4).fill(0.5) })).toThrow(
      /leave-one-out baseline needs at least 2 samples/,
    );
    expect(() =>
      reinforceGradient(y, 2, 2, 1, { probs: Float64Array.from([0, 0.5, 0.5, 0.5]), baseline: 'none' }),
    ).toThrow(/sample 0 has pixel 0 = 1 but probs\[0\] = 0/);
    expect(() => reinforceGradient(new Uint8Array(5), 2, 2, 1, { probs: new Float64Array(4) })).toThrow(
      /not a positive multiple of 2×2 = 4/,
    );
    // K = 1 without baseline: (l − 0)·score, by hand. mask 1010 in 2×2 → g = 2, s = 1 → l = 1.
    const g = reinforceGradient(y, 2, 2, 1, { probs: new Float64Array(4).fill(0.5), baseline: 'none' });
    expect(Array.from(g)).toEqual([2, -2, 2, -2]);
  });

  it('straight-through on a 3×3 single centre pixel: hand-computed values', () => {
    // Centre pixel only: d = 1 at c* = 4, g = 2. s = 0 → factor 2·(2 − 0)·2 = 8.
    // Foreground centre: Δ = D − cheb = 1. Background pixels: 8 within distance 1 → not unique → 0.
    const y = new Uint8Array(9);
    y[4] = 1;
    const g = straightThroughGradient(y, 3, 3, 0);
    expect(Array.from(g)).toEqual([0, 0, 0, 0, 8, 0, 0, 0, 0]);
    // 1×3 "1 1 0": d = [2, 1, 0], c* = 0, D = 2, g = 4, s = 0 → factor 16. Pixel 0: Δ = 2, pixel 1: Δ = 1,
    // pixel 2 (the unique background within 2): adding it → all foreground → capped at max(H,W) = 3 → Δ = 1.
    expect(Array.from(straightThroughGradient(Uint8Array.from([1, 1, 0]), 1, 3, 0))).toEqual([32, 16, 16]);
    expect(() => straightThroughGradient(new Uint8Array(4), 1, 3, 0)).toThrow(
      /straightThroughGradient: samples has length 4/,
    );
  });
});
