import { describe, expect, it } from 'vitest';
import { chebyshevDistanceTransform, chebyshevDistanceTransformBatch, objectSize } from '../../src/estimators/index.js';
import { bruteDT, bruteSize, maskCases } from './_helpers.js';

function sameDT(got: Float32Array, want: Float64Array): boolean {
  if (got.length !== want.length) return false;
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) return false;
  return true;
}

describe('chebyshevDistanceTransform', () => {
  it('7×7 with a 5×5 foreground interior: max d = 3, g = 6 (outside is not background)', () => {
    const m = new Uint8Array(49);
    for (let r = 1; r < 6; r++) for (let c = 1; c < 6; c++) m[r * 7 + c] = 1;
    const d = chebyshevDistanceTransform(m, 7, 7);
    expect(d[3 * 7 + 3]).toBe(3);
    expect(d[1 * 7 + 1]).toBe(1);
    expect(d[2 * 7 + 2]).toBe(2);
    expect(d[0]).toBe(0);
    expect(objectSize(m, 7, 7)).toBe(6);
  });

  it('fixtures: border semantics, empty, full, single pixels, lines', () => {
    // 1×5 row "1 1 1 1 0": the left end is 4 away from the only background pixel (border is not background).
    expect(Array.from(chebyshevDistanceTransform(Uint8Array.from([1, 1, 1, 1, 0]), 1, 5))).toEqual([4, 3, 2, 1, 0]);
    expect(objectSize(Uint8Array.from([1, 1, 1, 1, 0]), 1, 5)).toBe(8);
    // Column.
    expect(Array.from(chebyshevDistanceTransform(Uint8Array.from([0, 1, 1]), 3, 1))).toEqual([0, 1, 2]);
    // All background.
    expect(Array.from(chebyshevDistanceTransform(new Uint8Array(6), 2, 3))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(objectSize(new Uint8Array(6), 2, 3)).toBe(0);
    // All foreground → +∞.
    const full = chebyshevDistanceTransform(new Uint8Array(6).fill(1), 2, 3);
    expect(Array.from(full).every((v) => v === Infinity)).toBe(true);
    expect(objectSize(new Uint8Array(6).fill(1), 2, 3)).toBe(Infinity);
    expect(objectSize(Uint8Array.from([1]), 1, 1)).toBe(Infinity);
    expect(objectSize(Uint8Array.from([0]), 1, 1)).toBe(0);
    // Single foreground pixel → d = 1, g = 2.
    const one = new Uint8Array(9);
    one[4] = 1;
    expect(objectSize(one, 3, 3)).toBe(2);
    // Corner object 2×2 in a 4×4 at the top-left: corner pixel is 2 from the nearest background.
    const corner = new Uint8Array(16);
    corner[0] = corner[1] = corner[4] = corner[5] = 1;
    expect(chebyshevDistanceTransform(corner, 4, 4)[0]).toBe(2);
  });

  it('matches the O(V²) definition on thousands of masks up to 40×40 (incl. 1×N, N×1, extremes)', () => {
    let n = 0;
    for (const { mask, H, W, kind } of maskCases(20240601, 3000, 40)) {
      const got = chebyshevDistanceTransform(mask, H, W);
      const want = bruteDT(mask, H, W);
      if (!sameDT(got, want)) throw new Error(`mismatch on ${kind} ${H}×${W}: ${Array.from(mask).join('')}`);
      expect(objectSize(mask, H, W)).toBe(bruteSize(mask, H, W));
      n++;
    }
    expect(n).toBe(3000);
  });

  it('exhaustively matches the definition on every mask up to 3×4', () => {
    for (const [H, W] of [
      [1, 1],
      [1, 7],
      [7, 1],
      [2, 2],
      [2, 5],
      [3, 3],
      [3, 4],
      [4, 3],
    ] as const) {
      const V = H * W;
      for (let m = 0; m < 2 ** V; m++) {
        const mask = Uint8Array.from({ length: V }, (_, i) => (m >> i) & 1);
        if (!sameDT(chebyshevDistanceTransform(mask, H, W), bruteDT(mask, H, W))) {
          throw new Error(`mismatch ${H}×${W} m=${m}`);
        }
      }
    }
  });

  it('batch equals per-image transforms', () => {
    const H = 5;
    const W = 7;
    const imgs = [...maskCases(99, 200, 12)]
      .map((c) => c.mask)
      .filter((m) => m.length >= H * W)
      .slice(0, 10)
      .map((m) => m.slice(0, H * W));
    expect(imgs.length).toBe(10);
    const all = new Uint8Array(imgs.length * H * W);
    imgs.forEach((m, b) => all.set(m, b * H * W));
    const out = chebyshevDistanceTransformBatch(all, imgs.length, H, W);
    imgs.forEach((m, b) => {
      expect(Array.from(out.subarray(b * H * W, (b + 1) * H * W))).toEqual(Array.from(bruteDT(m, H, W)));
    });
  });

  it('rejects bad input with errors that name the function and the fix', () => {
    expect(() => chebyshevDistanceTransform(new Uint8Array(5), 2, 3)).toThrow(
      /chebyshevDistanceTransform: mask has length 5.*needs 6/,
    );
    expect(() => chebyshevDistanceTransform(new Uint8Array(6), 0, 6)).toThrow(
      /chebyshevDistanceTransform: height and width must be positive integers/,
    );
    expect(() => chebyshevDistanceTransform(new Uint8Array(6), 2.5, 2)).toThrow(/positive integers/);
    expect(() => chebyshevDistanceTransform(Uint8Array.from([0, 2]), 1, 2)).toThrow(
      /values must be 0 .* or 1 .*found 2 at index 1/,
    );
    expect(() => chebyshevDistanceTransform([0, 1] as unknown as Uint8Array, 1, 2)).toThrow(/must be a Uint8Array/);
    expect(() => chebyshevDistanceTransformBatch(new Uint8Array(12), 3, 2, 3)).toThrow(
      /chebyshevDistanceTransformBatch: masks has length 12.*3×2×3/,
    );
    expect(() => chebyshevDistanceTransformBatch(new Uint8Array(12), 0, 2, 3)).toThrow(
      /batch must be a positive integer/,
    );
    expect(() => objectSize(new Uint8Array(3), 2, 2)).toThrow(/objectSize: mask has length 3/);
  });
});
