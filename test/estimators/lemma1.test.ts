import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/rng.js';
import { allForegroundSize, finiteSize, lemma1Gradient, objectSize, sizeLoss } from '../../src/estimators/index.js';
import { bruteLemma1, bruteSize, maskCases } from './_helpers.js';

function firstDiff(a: Float64Array, b: Float64Array): number {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

describe('lemma1Gradient', () => {
  it('naive matches eq. 21 written out with the brute-force size (independent reference)', () => {
    for (const { mask, H, W, kind } of maskCases(31337, 400, 9)) {
      for (const s of [0, 3, 2 * Math.max(H, W) + 5]) {
        const got = lemma1Gradient(mask, H, W, s, { method: 'naive' });
        const want = bruteLemma1(mask, H, W, s);
        const i = firstDiff(got, want);
        if (i >= 0) throw new Error(`naive ≠ reference (${kind} ${H}×${W}, s=${s}) at ${i}: ${got[i]} vs ${want[i]}`);
      }
    }
  });

  it("'fast' equals 'naive' bit for bit (Object.is) on thousands of masks and several targets", () => {
    const rng = new Rng(4242);
    let checked = 0;
    for (const { mask, H, W, kind } of maskCases(777, 2500, 40)) {
      const g = bruteSize(mask, H, W);
      const targets = [0, 1 + rng.int(10), 2 * Math.max(H, W) + 7, 1e6, g === Infinity ? 7 : g];
      for (const s of targets) {
        const naive = lemma1Gradient(mask, H, W, s, { method: 'naive' });
        const fast = lemma1Gradient(mask, H, W, s, { method: 'fast' });
        const i = firstDiff(naive, fast);
        if (i >= 0) {
          throw new Error(
            `fast ≠ naive (${kind} ${H}×${W}, s=${s}) at pixel ${i}: naive ${naive[i]}, fast ${fast[i]}; ` +
              `mask ${Array.from(mask).join('')}`,
          );
        }
        checked++;
      }
    }
    expect(checked).toBe(2500 * 5);
  });

  it("'fast' equals 'naive' on larger realistic samples (blob + noise, 48×32 and 64×64)", () => {
    const rng = new Rng(9);
    for (const [H, W] of [
      [48, 32],
      [64, 64],
      [33, 70],
    ] as const) {
      for (let t = 0; t < 4; t++) {
        const m = new Uint8Array(H * W);
        const cr = H / 2 + (rng.uniform() - 0.5) * H * 0.3;
        const cc = W / 2 + (rng.uniform() - 0.5) * W * 0.3;
        const ar = H * (0.15 + 0.3 * rng.uniform());
        const ac = W * (0.15 + 0.3 * rng.uniform());
        const noise = [0, 0.01, 0.05, 0.2][t] as number;
        for (let r = 0; r < H; r++)
          for (let c = 0; c < W; c++) {
            let v = ((r - cr) / ar) ** 2 + ((c - cc) / ac) ** 2 <= 1 ? 1 : 0;
            if (rng.uniform() < noise) v = 1 - v;
            m[r * W + c] = v;
          }
        const s = objectSize(m, H, W) + 4;
        const i = firstDiff(lemma1Gradient(m, H, W, s, { method: 'naive' }), lemma1Gradient(m, H, W, s));
        expect(i).toBe(-1);
      }
    }
  });

  it('the worked 1×5 border case: removing the far end drops g by 4, not 2', () => {
    const m = Uint8Array.from([1, 1, 1, 1, 0]); // g = 8
    const e = lemma1Gradient(m, 1, 5, 0);
    // Pixel 0 → 0 1 1 1 0: g = 4; estimate = +1·(64 − 16) = 48.
    expect(e[0]).toBe(48);
    // Pixel 4 (background) → all foreground: +∞ rule ĝ = 2·max(1, 5) = 10; estimate = −1·(64 − 100) = 36.
    expect(e[4]).toBe(36);
    expect(lemma1Gradient(m, 1, 5, 0, { method: 'naive' })).toEqual(e);
  });

  it('centre of a 5×5 square in 7×7: removing it drops max d from 3 to 1', () => {
    const m = new Uint8Array(49);
    for (let r = 1; r < 6; r++) for (let c = 1; c < 6; c++) m[r * 7 + c] = 1;
    const e = lemma1Gradient(m, 7, 7, 0);
    expect(e[24]).toBe(36 - 4);
    expect(Object.is(e[0], -0)).toBe(true); // background pixel whose flip changes nothing: −1·0
    expect(e[8]).toBe(36 - 16); // the corner is inside the only maximal square too: g 6 → 4
    // A 5×6 rectangle in 7×8 has two maximal centres (3,3) and (3,4); the corner (1,1) is outside the square
    // around (3,4), so removing it keeps g = 6 and the estimate is +0.
    const rect = new Uint8Array(56);
    for (let r = 1; r < 6; r++) for (let c = 1; c < 7; c++) rect[r * 8 + c] = 1;
    const er = lemma1Gradient(rect, 7, 8, 0);
    expect(Object.is(er[1 * 8 + 1], 0)).toBe(true);
    expect(er[3 * 8 + 3]).toBeGreaterThan(0); // in both maximal squares
  });

  it('+∞ rule: all-foreground samples and flips give finite values, with ĝ = 2·max(H, W)', () => {
    expect(allForegroundSize(3, 5)).toBe(10);
    expect(finiteSize(Infinity, 3, 5)).toBe(10);
    expect(finiteSize(4, 3, 5)).toBe(4);
    expect(sizeLoss(4, Infinity, 3, 5)).toBe(36);
    for (const [H, W] of [
      [1, 1],
      [1, 6],
      [4, 4],
      [3, 7],
    ] as const) {
      const full = new Uint8Array(H * W).fill(1);
      for (const method of ['naive', 'fast'] as const) {
        const e = lemma1Gradient(full, H, W, 3, { method });
        expect(e.every((v) => Number.isFinite(v))).toBe(true);
        // Removing pixel i leaves it as the only background: g = 2·(distance to the farthest corner).
        for (let i = 0; i < H * W; i++) {
          const r = Math.floor(i / W);
          const c = i % W;
          const far = Math.max(r, H - 1 - r, c, W - 1 - c);
          expect(e[i]).toBe((3 - 2 * Math.max(H, W)) ** 2 - (3 - 2 * far) ** 2);
        }
      }
      // Exactly one background pixel: flipping it gives +∞ → the rule.
      const one = full.slice();
      one[0] = 0;
      const e = lemma1Gradient(one, H, W, 3);
      const g = objectSize(one, H, W);
      expect(e[0]).toBe(-1 * ((3 - g) ** 2 - (3 - 2 * Math.max(H, W)) ** 2));
      expect(e.every((v) => Number.isFinite(v))).toBe(true);
    }
  });

  it('all-background sample: every flip creates a single pixel of size 2', () => {
    const e = lemma1Gradient(new Uint8Array(12), 3, 4, 5);
    for (const v of e) expect(v).toBe(-1 * (25 - 9));
  });

  it('rejects bad input', () => {
    expect(() => lemma1Gradient(new Uint8Array(5), 2, 3, 1)).toThrow(/lemma1Gradient: sample has length 5/);
    expect(() => lemma1Gradient(new Uint8Array(6), 2, 3, NaN)).toThrow(
      /lemma1Gradient: targetSize must be a finite number/,
    );
    expect(() => lemma1Gradient(new Uint8Array(6), 2, 3, Infinity)).toThrow(/targetSize/);
    expect(() => lemma1Gradient(Uint8Array.from([0, 3]), 1, 2, 1)).toThrow(/values must be 0/);
    expect(() => lemma1Gradient(new Uint8Array(6), 2, 3, 1, { method: 'slow' as 'fast' })).toThrow(
      /unknown method 'slow'/,
    );
  });
});
