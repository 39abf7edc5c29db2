/**
 * Unbiasedness against the exact 2^V gradient.
 *
 * Check (one helper, `unbiasedCheck`, for every estimator): for every pixel, |mean of K estimates − exact| ≤ 5·SE,
 * SE = sqrt(sample variance / K) (+1e-9 absolute slack for pixels whose estimate is constant). Seeds are fixed
 * (Rng(2024) for 3×3 and Rng(2025) for 4×4), so the test is deterministic and cannot flake: it either always
 * passes or always fails for this code. With a correct estimator the chance that a given seed produces a 5σ
 * deviation on any of 25 pixels is ~1e-5, so a failure means a bug; the deliberately biased variants (×1.2, and
 * "flip = set to background", which zeroes the background entries) must FAIL the very same check, which shows
 * that K is large enough for the check to have power.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/rng.js';
import {
  exactSizeLoss,
  lemma1Gradient,
  objectSize,
  reinforceGradient,
  sampleBernoulliMasks,
  sizeLoss,
  straightThroughGradient,
} from '../../src/estimators/index.js';
import { unbiasedCheck } from './_helpers.js';

interface Case {
  name: string;
  H: number;
  W: number;
  s: number;
  p: Float64Array;
  seed: number;
}

const cases: Case[] = [
  { name: '3×3', H: 3, W: 3, s: 4, seed: 2024, p: Float64Array.from([0.2, 0.5, 0.3, 0.6, 0.9, 0.7, 0.3, 0.6, 0.4]) },
  {
    name: '4×4',
    H: 4,
    W: 4,
    s: 2,
    seed: 2025,
    p: Float64Array.from([0.1, 0.3, 0.4, 0.2, 0.4, 0.8, 0.9, 0.5, 0.3, 0.85, 0.7, 0.6, 0.1, 0.4, 0.5, 0.2]),
  },
];
const K = 20000;

function draw(c: Case): Uint8Array[] {
  const rng = new Rng(c.seed);
  const all = sampleBernoulliMasks(c.p, K, c.H, c.W, rng);
  const V = c.H * c.W;
  return Array.from({ length: K }, (_, k) => all.subarray(k * V, (k + 1) * V));
}

describe.each(cases)('unbiasedness on $name', (c) => {
  const samples = draw(c);
  const exact = exactSizeLoss(c.p, c.H, c.W, c.s).gradProbs;

  it('the exact gradient is not trivially zero (the check has something to detect)', () => {
    expect(Math.max(...Array.from(exact, Math.abs))).toBeGreaterThan(0.5);
  });

  it('mean of K Lemma-1 estimates is within 5 SE of the exact gradient on every pixel', () => {
    const est = samples.map((y) => lemma1Gradient(y, c.H, c.W, c.s));
    const r = unbiasedCheck(est, exact);
    expect(r.failures).toEqual([]);
  });

  it('a deliberately biased variant (×1.2) FAILS the same check', () => {
    const est = samples.map((y) => lemma1Gradient(y, c.H, c.W, c.s).map((v) => 1.2 * v));
    expect(unbiasedCheck(est, exact).failures.length).toBeGreaterThan(0);
  });

  it('a deliberately wrong flip (set to background instead of flip) FAILS the same check', () => {
    const est = samples.map((y) => {
      const out = new Float64Array(y.length);
      const l0 = sizeLoss(c.s, objectSize(y, c.H, c.W), c.H, c.W);
      for (let i = 0; i < y.length; i++) {
        const f = y.slice();
        f[i] = 0;
        out[i] = (y[i] === 1 ? 1 : -1) * (l0 - sizeLoss(c.s, objectSize(f, c.H, c.W), c.H, c.W));
      }
      return out;
    });
    expect(unbiasedCheck(est, exact).failures.length).toBeGreaterThan(0);
  });

  it('REINFORCE with a leave-one-out baseline passes (pairs of samples, so each estimate is independent)', () => {
    const V = c.H * c.W;
    const est: Float64Array[] = [];
    for (let k = 0; k + 1 < K; k += 2) {
      const pair = new Uint8Array(2 * V);
      pair.set(samples[k] as Uint8Array, 0);
      pair.set(samples[k + 1] as Uint8Array, V);
      est.push(reinforceGradient(pair, c.H, c.W, c.s, { probs: c.p }));
    }
    expect(unbiasedCheck(est, exact).failures).toEqual([]);
  });

  it('straight-through is biased: it FAILS the check', () => {
    const est = samples.map((y) => straightThroughGradient(y, c.H, c.W, c.s));
    expect(unbiasedCheck(est, exact).failures.length).toBeGreaterThan(0);
  });
});
