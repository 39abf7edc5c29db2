import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/rng.js';
import { exactSizeLoss, exactSizeLossUncertain } from '../../src/estimators/index.js';
import { bruteExact } from './_helpers.js';

function randomProbs(rng: Rng, V: number, lo = 0.05, hi = 0.95): Float64Array {
  return Float64Array.from({ length: V }, () => lo + (hi - lo) * rng.uniform());
}

describe('exactSizeLoss', () => {
  it('matches the textbook sum over all masks (eqs. 10, 19) on small images', () => {
    const rng = new Rng(11);
    for (const [H, W] of [
      [1, 1],
      [1, 4],
      [2, 2],
      [3, 3],
      [2, 5],
      [3, 4],
    ] as const) {
      for (const s of [0, 2, 5]) {
        const p = randomProbs(rng, H * W);
        const got = exactSizeLoss(p, H, W, s);
        const want = bruteExact(p, H, W, s);
        expect(got.expectedLoss).toBeCloseTo(want.L, 10);
        for (let i = 0; i < H * W; i++) expect(got.gradProbs[i]).toBeCloseTo(want.grad[i] as number, 10);
      }
    }
  });

  it('gradient matches float64 central finite differences of expectedLoss (3×3, 4×4)', () => {
    const rng = new Rng(12);
    for (const [H, W, s] of [
      [3, 3, 2],
      [3, 3, 6],
      [4, 4, 4],
      [4, 4, 0],
    ] as const) {
      const p = randomProbs(rng, H * W, 0.1, 0.9);
      const { gradProbs } = exactSizeLoss(p, H, W, s);
      const h = 1e-5;
      for (let i = 0; i < H * W; i++) {
        const pp = p.slice();
        const pm = p.slice();
        pp[i] = (p[i] as number) + h;
        pm[i] = (p[i] as number) - h;
        const fd = (exactSizeLoss(pp, H, W, s).expectedLoss - exactSizeLoss(pm, H, W, s).expectedLoss) / (2 * h);
        // L is affine in each p_i, so central differences are exact up to rounding (~1e-11 here).
        expect(Math.abs(fd - (gradProbs[i] as number))).toBeLessThan(1e-7 * Math.max(1, Math.abs(fd)));
      }
    }
  });

  it('handles p ∈ {0, 1}: deterministic masks give their own loss', () => {
    // p = mask of a 2×2 square in the corner of a 3×3 → g = 4 (corner pixel is 2 from background).
    const p = Float64Array.from([1, 1, 0, 1, 1, 0, 0, 0, 0]);
    const r = exactSizeLoss(p, 3, 3, 1);
    expect(r.expectedLoss).toBe(9);
    // ∂L/∂p_8 = l(pixel 8 on) − l(off): 8 on doesn't change g → 0.
    expect(r.gradProbs[8]).toBe(0);
    // All-foreground certain: the +∞ rule, ĝ = 2·max(H, W) = 6.
    expect(exactSizeLoss(new Float64Array(9).fill(1), 3, 3, 1).expectedLoss).toBe(25);
  });

  it('exactSizeLossUncertain equals exactSizeLoss when some p are exactly 0 or 1', () => {
    const rng = new Rng(13);
    for (let t = 0; t < 10; t++) {
      const H = 3;
      const W = 4;
      const p = randomProbs(rng, H * W);
      for (let i = 0; i < H * W; i++) if (rng.uniform() < 0.4) p[i] = rng.uniform() < 0.5 ? 0 : 1;
      const a = exactSizeLoss(p, H, W, 3);
      const b = exactSizeLossUncertain(p, H, W, 3);
      expect(b.expectedLoss).toBeCloseTo(a.expectedLoss, 10);
      for (let i = 0; i < H * W; i++) expect(b.gradProbs[i]).toBeCloseTo(a.gradProbs[i] as number, 10);
    }
  });

  it('refuses V > 24 and bad probabilities with clear errors', () => {
    expect(() => exactSizeLoss(new Float64Array(25).fill(0.5), 5, 5, 1)).toThrow(
      /exactSizeLoss: 5×5 = 25 pixels would need 2\^25 masks; the limit is V ≤ 24/,
    );
    expect(() => exactSizeLoss(new Float64Array(4).fill(0.5), 2, 3, 1)).toThrow(/exactSizeLoss: probs has length 4/);
    expect(() => exactSizeLoss(Float64Array.from([0.5, 1.5]), 1, 2, 1)).toThrow(
      /probs\[1\] = 1.5 is not a probability/,
    );
    expect(() => exactSizeLoss(Float64Array.from([0.5, NaN]), 1, 2, 1)).toThrow(/probs\[1\] = NaN/);
    expect(() => exactSizeLoss([0.5] as unknown as Float64Array, 1, 1, 1)).toThrow(/must be a Float64Array/);
    expect(() => exactSizeLoss(new Float64Array(1), 1, 1, NaN)).toThrow(/targetSize must be a finite number/);
    expect(() => exactSizeLossUncertain(new Float64Array(36).fill(0.5), 6, 6, 1)).toThrow(
      /36 pixels have 0 < p < 1; the limit is 24/,
    );
  });
});
