import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/rng.js';
import {
  batchIterator,
  indicesOf,
  makeBatch,
  maskSize,
  randomSplit,
  selectAnnotated,
  splitCounts,
  volumeSplit,
  type SegDataset,
} from '../../src/data/dataset.js';

/** Brute force from the definition: d_i = min over background j of max(|Δr|, |Δc|); outside the image is not background. */
function bruteSize(mask: Uint8Array, H: number, W: number): number {
  const bg: [number, number][] = [];
  for (let r = 0; r < H; r++) for (let c = 0; c < W; c++) if (!mask[r * W + c]) bg.push([r, c]);
  if (bg.length === 0) return Infinity;
  let best = 0;
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      let d = Infinity;
      for (const [br, bc] of bg) d = Math.min(d, Math.max(Math.abs(r - br), Math.abs(c - bc)));
      best = Math.max(best, d);
    }
  }
  return 2 * best;
}

function tinyDataset(N = 20, H = 6, W = 5): SegDataset {
  const V = H * W;
  const images = Float32Array.from({ length: N * V }, (_, i) => i);
  const masks = new Uint8Array(N * V);
  for (let n = 0; n < N; n++) masks[n * V + (n % V)] = 1;
  const sizes = Float32Array.from({ length: N }, (_, n) => n);
  return { name: 't', height: H, width: W, count: N, images, masks, sizes, split: randomSplit(N, 1), source: 'test' };
}

describe('maskSize (private g helper)', () => {
  it('documented examples', () => {
    const m = new Uint8Array(49);
    for (let r = 1; r < 6; r++) for (let c = 1; c < 6; c++) m[r * 7 + c] = 1;
    expect(maskSize(m, 7, 7)).toBe(6);
    expect(maskSize(new Uint8Array(12).fill(1), 3, 4)).toBe(Infinity);
    expect(maskSize(new Uint8Array(12), 3, 4)).toBe(0);
    // border is not background: a 3×4 image with only the last column background
    const b = new Uint8Array(12).fill(1);
    for (let r = 0; r < 3; r++) b[r * 4 + 3] = 0;
    expect(maskSize(b, 3, 4)).toBe(bruteSize(b, 3, 4));
    expect(maskSize(b, 3, 4)).toBe(6); // column 0 is 3 columns from the background
    // scipy distance_transform_cdt([[0,1,1,1],[1,1,1,1],[1,1,1,1]], 'chessboard').max() == 3, so g = 6,
    // although the largest all-foreground square inside the image is only 3×3 (the border is not background).
    const corner = Uint8Array.from([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(maskSize(corner, 3, 4)).toBe(6);
  });

  it('equals the brute-force definition on random masks', () => {
    const rng = new Rng(11);
    for (let t = 0; t < 300; t++) {
      const H = 1 + rng.int(9);
      const W = 1 + rng.int(9);
      const p = rng.uniform();
      const m = Uint8Array.from({ length: H * W }, () => (rng.uniform() < p ? 1 : 0));
      expect(maskSize(m, H, W)).toBe(bruteSize(m, H, W));
    }
  });
});

describe('maskSize agrees with the estimators module', () => {
  it('same g as estimators/objectSize on random masks (skipped if that module does not load)', async (ctx) => {
    let objectSize: ((m: Uint8Array, h: number, w: number) => number) | undefined;
    try {
      objectSize = (await import('../../src/estimators/index.js')).objectSize;
    } catch {
      objectSize = undefined;
    }
    if (typeof objectSize !== 'function') {
      ctx.skip('src/estimators did not load, so there is nothing to compare with; fix its import error');
      return;
    }
    const rng = new Rng(21);
    for (let t = 0; t < 300; t++) {
      const H = 1 + rng.int(12);
      const W = 1 + rng.int(12);
      const p = rng.uniform();
      const m = Uint8Array.from({ length: H * W }, () => (rng.uniform() < p ? 1 : 0));
      expect(maskSize(m, H, W)).toBe(objectSize(m, H, W));
    }
  });
});

describe('splits', () => {
  it('70/10/20 counts add up', () => {
    expect(splitCounts(10)).toEqual([7, 1, 2]);
    expect(splitCounts(260)).toEqual([182, 26, 52]);
    for (let n = 1; n < 50; n++) expect(splitCounts(n).reduce((a, b) => a + b)).toBe(n);
  });
  it('randomSplit is seeded and has the right counts', () => {
    const a = randomSplit(100, 5);
    expect(Array.from(a)).toEqual(Array.from(randomSplit(100, 5)));
    expect(Array.from(a)).not.toEqual(Array.from(randomSplit(100, 6)));
    expect([0, 1, 2].map((c) => a.filter((v) => v === c).length)).toEqual([70, 10, 20]);
  });
  it('volumeSplit keeps volumes together', () => {
    const vid = Int32Array.from({ length: 200 }, (_, i) => Math.floor(i / 7) * 3);
    const s = volumeSplit(vid, 2);
    for (let i = 1; i < 200; i++) if (vid[i] === vid[i - 1]) expect(s[i]).toBe(s[i - 1]);
  });
});

describe('batching', () => {
  it('indicesOf partitions the dataset', () => {
    const ds = tinyDataset();
    const all = [...indicesOf(ds, 'train'), ...indicesOf(ds, 'val'), ...indicesOf(ds, 'test')].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: ds.count }, (_, i) => i));
  });

  it('makeBatch copies images [B,1,H,W], masks and sizes; flips are seeded and correct', () => {
    const ds = tinyDataset();
    const V = 30;
    const b = makeBatch(ds, [3, 0]);
    expect(b.images.length).toBe(2 * V);
    expect(Array.from(b.images.subarray(0, V))).toEqual(Array.from(ds.images.subarray(3 * V, 4 * V)));
    expect(Array.from(b.sizes)).toEqual([3, 0]);
    expect(b.indices).toEqual([3, 0]);
    // flips: every item is one of the 4 flips of its source; both image and mask flipped the same way
    const idx = Array.from({ length: 20 }, (_, i) => i);
    const f1 = makeBatch(ds, idx, { flip: new Rng(4) });
    const f2 = makeBatch(ds, idx, { flip: new Rng(4) });
    expect(Array.from(f1.images)).toEqual(Array.from(f2.images));
    const seen = new Set<string>();
    for (let k = 0; k < 20; k++) {
      const src = ds.images.subarray(k * V, (k + 1) * V);
      const got = f1.images.subarray(k * V, (k + 1) * V);
      let kind = '';
      for (const [fh, fv] of [
        [0, 0],
        [1, 0],
        [0, 1],
        [1, 1],
      ] as const) {
        let ok = true;
        for (let r = 0; r < 6 && ok; r++) {
          for (let c = 0; c < 5 && ok; c++) {
            const s = (fv ? 5 - r : r) * 5 + (fh ? 4 - c : c);
            if (got[r * 5 + c] !== src[s] || f1.masks[k * V + r * 5 + c] !== ds.masks[k * V + s]) ok = false;
          }
        }
        if (ok) kind = `${fh}${fv}`;
      }
      expect(kind).not.toBe('');
      seen.add(kind);
      expect(f1.sizes[k]).toBe(ds.sizes[k]);
    }
    expect(seen.size).toBeGreaterThan(2);
  });

  it('flips leave g unchanged', () => {
    const rng = new Rng(3);
    const H = 9;
    const W = 7;
    const N = 30;
    const masks = Uint8Array.from({ length: N * H * W }, () => (rng.uniform() < 0.7 ? 1 : 0));
    const ds: SegDataset = {
      name: 'g',
      height: H,
      width: W,
      count: N,
      images: new Float32Array(N * H * W),
      masks,
      sizes: Float32Array.from({ length: N }, (_, n) => maskSize(masks, H, W, n * H * W)),
      split: new Uint8Array(N),
      source: 't',
    };
    const b = makeBatch(
      ds,
      Array.from({ length: N }, (_, i) => i),
      { flip: new Rng(9) },
    );
    for (let n = 0; n < N; n++) expect(maskSize(b.masks, H, W, n * H * W)).toBe(b.sizes[n]);
  });

  it('batchIterator visits every index once per epoch, seeded, with dropLast', () => {
    const ds = tinyDataset(23);
    const idx = Array.from({ length: 23 }, (_, i) => i);
    const order = (seed: number, dropLast = false): number[] =>
      [...batchIterator(ds, idx, 5, new Rng(seed), { dropLast })].flatMap((b) => b.indices);
    expect(
      order(1)
        .slice()
        .sort((a, b) => a - b),
    ).toEqual(idx);
    expect(order(1)).toEqual(order(1));
    expect(order(1)).not.toEqual(order(2));
    expect(order(1, true).length).toBe(20);
    const rng = new Rng(5);
    const e1 = [...batchIterator(ds, idx, 23, rng)][0]?.indices;
    const e2 = [...batchIterator(ds, idx, 23, rng)][0]?.indices;
    expect(e1).not.toEqual(e2); // a fresh order each epoch from the same generator
    expect(idx).toEqual(Array.from({ length: 23 }, (_, i) => i)); // input untouched
    expect(() => batchIterator(ds, idx, 0, rng).next()).toThrow(/batchSize/);
  });

  it('selectAnnotated picks m distinct training images, seeded', () => {
    const ds = tinyDataset(50);
    const train = new Set(indicesOf(ds, 'train'));
    const a = selectAnnotated(ds, 10, new Rng(1));
    expect(a.length).toBe(10);
    expect(new Set(a).size).toBe(10);
    for (const i of a) expect(train.has(i)).toBe(true);
    expect(selectAnnotated(ds, 10, new Rng(1))).toEqual(a);
    expect(selectAnnotated(ds, train.size, new Rng(2)).length).toBe(train.size);
    expect(() => selectAnnotated(ds, train.size + 1, new Rng(2))).toThrow(/only 35/);
  });
});
