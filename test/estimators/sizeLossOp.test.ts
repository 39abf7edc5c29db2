/**
 * The size-loss tensor op: its backward must equal the mean of `lemma1Gradient` over the very samples the
 * forward drew (reproduced here with a second generator of the same seed, following the documented
 * sampling order), chained through σ'(a) = σ(a)(1 − σ(a)), divided by the batch, times the upstream gradient.
 */
import { describe, expect, it } from 'vitest';
import { Rng, randn, tensor } from '../../src/autograd/index.js';
import { lemma1Gradient, objectSize, sizeLoss } from '../../src/index.js';

describe('sizeLoss op', () => {
  for (const samples of [1, 3]) {
    it(`backward = mean Lemma-1 estimate · σ' / B (n = ${samples})`, () => {
      const B = 3,
        H = 5,
        W = 4,
        V = H * W;
      const logits = randn([B, 1, H, W], new Rng(11), { dtype: 'float64' }).mul(2).detach().requiresGrad_();
      const targets = [4, 2, 6];
      const loss = sizeLoss(logits, targets, { rng: new Rng(77), samples });
      loss.mul(2.5).backward(); // upstream gradient 2.5
      const a = logits.dataSync();
      const replay = new Rng(77);
      const expected = new Float64Array(B * V);
      let expectedLoss = 0;
      for (let b = 0; b < B; b++) {
        const p = Array.from({ length: V }, (_, i) => 1 / (1 + Math.exp(-a[b * V + i]!)));
        const acc = new Float64Array(V);
        for (let k = 0; k < samples; k++) {
          const y = Uint8Array.from(p, (pi) => (replay.uniform() < pi ? 1 : 0));
          if (k === 0) expectedLoss += (targets[b]! - objectSize(y, H, W)) ** 2 / B;
          lemma1Gradient(y, H, W, targets[b]!, { method: 'naive' }).forEach((e, i) => (acc[i]! += e));
        }
        for (let i = 0; i < V; i++) expected[b * V + i] = (((acc[i]! / samples) * p[i]! * (1 - p[i]!)) / B) * 2.5;
      }
      expect(loss.item()).toBeCloseTo(expectedLoss, 12);
      const got = logits.grad!.dataSync();
      for (let i = 0; i < B * V; i++) expect(got[i]).toBeCloseTo(expected[i]!, 12);
    });
  }

  it('is reproducible from the seed and names bad input', () => {
    const logits = randn([2, 1, 4, 4], new Rng(1));
    const l1 = sizeLoss(logits, [2, 4], { rng: new Rng(5) }).item();
    const l2 = sizeLoss(logits, [2, 4], { rng: new Rng(5) }).item();
    expect(l1).toBe(l2);
    expect(() => sizeLoss(tensor([1, 2]), [2], { rng: new Rng(0) })).toThrow(/\[B, 1, H, W\]/);
    expect(() => sizeLoss(logits, [2], { rng: new Rng(0) })).toThrow(/1 target sizes for a batch of 2/);
    expect(() => sizeLoss(logits.mul(Number.NaN), [2, 2], { rng: new Rng(0) })).toThrow(/finite/);
  });

  it('refuses a negative or non-finite target size, naming the image, like NaN', () => {
    const logits = randn([2, 1, 4, 4], new Rng(1));
    for (const bad of [-1, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => sizeLoss(logits, [2, bad], { rng: new Rng(0) })).toThrow(
        /targetSizes\[1\] must be a finite number ≥ 0 .*got (-1|-0\.5|NaN|Infinity)/,
      );
    }
    // the single-image estimators share the rule
    expect(() => lemma1Gradient(new Uint8Array(16).fill(1), 4, 4, -2)).toThrow(
      /targetSize must be a finite number ≥ 0/,
    );
    // 0 (an empty mask's size) is a valid target
    expect(Number.isFinite(sizeLoss(logits, [0, 3], { rng: new Rng(0) }).item())).toBe(true);
  });
});
