import { describe, expect, it } from 'vitest';
import { generateSynthetic } from '../../src/data/synthetic.js';
import { loadDataset } from '../../src/data/index.js';
import { indicesOf, maskSize } from '../../src/data/dataset.js';

describe('synthetic dataset', () => {
  const ds = generateSynthetic({ count: 400, seed: 1 });
  const V = ds.height * ds.width;

  it('shapes, defaults and determinism', async () => {
    expect([ds.height, ds.width, ds.count]).toEqual([48, 32, 400]);
    expect(ds.images.length).toBe(400 * V);
    const again = generateSynthetic({ count: 400, seed: 1 });
    expect(Array.from(again.images.subarray(0, 5000))).toEqual(Array.from(ds.images.subarray(0, 5000)));
    expect(Array.from(again.masks)).toEqual(Array.from(ds.masks));
    const other = generateSynthetic({ count: 5, seed: 2 });
    expect(Array.from(other.masks)).not.toEqual(Array.from(ds.masks.subarray(0, 5 * V)));
    // image n depends only on (seed, n), not on count
    const short = generateSynthetic({ count: 10, seed: 1 });
    expect(Array.from(short.images)).toEqual(Array.from(ds.images.subarray(0, 10 * V)));
    const viaSpec = await loadDataset('synthetic', { count: 10, seed: 1 });
    expect(Array.from(viaSpec.masks)).toEqual(Array.from(short.masks));
    expect((await loadDataset('synthetic')).count).toBe(2000);
  });

  it('masks are 0/1 with 16..500 foreground pixels; sizes are g of the masks, in the real range 2..14', () => {
    for (let n = 0; n < ds.count; n++) {
      let fg = 0;
      let bad = 0;
      for (let p = 0; p < V; p++) {
        const m = ds.masks[n * V + p] as number;
        if (m !== 0 && m !== 1) bad++;
        fg += m;
      }
      expect(bad).toBe(0);
      expect(fg).toBeGreaterThanOrEqual(16);
      expect(fg).toBeLessThanOrEqual(500);
      const g = ds.sizes[n] as number;
      expect(g).toBe(maskSize(ds.masks, 48, 32, n * V));
      expect(g).toBeGreaterThanOrEqual(2);
      expect(g).toBeLessThanOrEqual(14);
    }
    const distinct = new Set(ds.sizes);
    expect(distinct.size).toBeGreaterThanOrEqual(5); // varied sizes
  });

  it('small images get objects that fit: every sample valid (finite size, 16+ foreground pixels) at 16×16 and 24×24', () => {
    for (const [h, w] of [
      [16, 16],
      [24, 24],
    ] as const) {
      const small = generateSynthetic({ count: 2000, height: h, width: w, seed: 0 });
      const Vs = h * w;
      const maxSize = Math.max(4, Math.round((14 * Math.min(h / 48, w / 32)) / 2) * 2);
      for (let n = 0; n < small.count; n++) {
        let fg = 0;
        for (let p = 0; p < Vs; p++) fg += small.masks[n * Vs + p] as number;
        expect(fg).toBeGreaterThanOrEqual(16);
        expect(fg).toBeLessThan(Vs);
        expect(small.sizes[n]).toBe(maskSize(small.masks, h, w, n * Vs));
        expect(small.sizes[n]).toBeLessThanOrEqual(maxSize);
      }
    }
  });

  it('each image is z-scored and finite', () => {
    for (let n = 0; n < ds.count; n += 37) {
      let s = 0;
      let ss = 0;
      for (let p = 0; p < V; p++) {
        const v = ds.images[n * V + p] as number;
        if (!Number.isFinite(v)) throw new Error(`non-finite pixel in image ${n}`);
        s += v;
        ss += v * v;
      }
      expect(Math.abs(s / V)).toBeLessThan(1e-4);
      expect(Math.abs(ss / V - 1)).toBeLessThan(1e-3);
    }
  });

  it('seeded 70/10/20 split', () => {
    expect([indicesOf(ds, 'train').length, indicesOf(ds, 'val').length, indicesOf(ds, 'test').length]).toEqual([
      280, 40, 80,
    ]);
  });

  it('is not solvable by an intensity threshold (look-alike structures outside the object)', () => {
    // Best IoU of a global threshold (either polarity) per image, averaged: real data gives ≈ 0.15.
    let sum = 0;
    let lookalike = 0;
    const n1 = 150;
    for (let n = 0; n < n1; n++) {
      const img = ds.images.subarray(n * V, (n + 1) * V);
      const m = ds.masks.subarray(n * V, (n + 1) * V);
      const vals = Array.from(img).sort((a, b) => a - b);
      let best = 0;
      for (let q = 1; q < 40; q++) {
        const t = vals[Math.floor((q / 40) * V)] as number;
        for (const pol of [1, -1]) {
          let inter = 0;
          let uni = 0;
          for (let p = 0; p < V; p++) {
            const pr = pol * ((img[p] as number) - t) > 0 ? 1 : 0;
            inter += pr & (m[p] as number);
            uni += pr | (m[p] as number);
          }
          best = Math.max(best, inter / uni);
        }
      }
      sum += best;
      const fo: number[] = [];
      for (let p = 0; p < V; p++) if (m[p]) fo.push(img[p] as number);
      fo.sort((a, b) => a - b);
      const lo = fo[Math.floor(0.1 * fo.length)] as number;
      const hi = fo[Math.floor(0.9 * fo.length)] as number;
      let like = 0;
      for (let p = 0; p < V; p++) if (!m[p] && (img[p] as number) >= lo && (img[p] as number) <= hi) like++;
      lookalike += like / fo.length;
    }
    expect(sum / n1).toBeLessThan(0.35);
    expect(lookalike / n1).toBeGreaterThan(1.5); // more object-like background pixels than object pixels
  });

  it('rejects bad options', () => {
    expect(() => generateSynthetic({ count: 0 })).toThrow(/count/);
    expect(() => generateSynthetic({ height: 4 })).toThrow(/16×16/);
  });
});
