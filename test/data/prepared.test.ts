import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPrepared } from '../../src/data/prepared.js';
import { loadDataset } from '../../src/data/index.js';
import { indicesOf, maskSizes } from '../../src/data/dataset.js';
import { sharedDataNote } from '../_helpers/skipNote.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PREP_DIR = resolve(repoRoot, '../shared/data/hippocampus');
const haveShared = existsSync(join(PREP_DIR, 'meta.json'));

/** A tiny prepared folder: N images of H×W. */
function writeTiny(
  opts: {
    N?: number;
    H?: number;
    W?: number;
    mutate?: (img: Float32Array, msk: Uint8Array, meta: Record<string, unknown>) => void;
  } = {},
): string {
  const N = opts.N ?? 6;
  const H = opts.H ?? 8;
  const W = opts.W ?? 6;
  const dir = mkdtempSync(join(tmpdir(), 'sizeseg-prep-'));
  const img = Float32Array.from({ length: N * H * W }, (_, i) => Math.sin(i));
  const msk = new Uint8Array(N * H * W);
  for (let n = 0; n < N; n++)
    for (let r = 2; r < 2 + (n % 4) + 1; r++) for (let c = 1; c < 4; c++) msk[n * H * W + r * W + c] = 1;
  const meta: Record<string, unknown> = {
    N,
    H,
    W,
    volume_id: Array.from({ length: N }, (_, n) => String(Math.floor(n / 2)).padStart(3, '0')),
    slice_index: Array.from({ length: N }, (_, n) => n % 2),
    split_by_volume: Array.from({ length: N }, (_, n) => [0, 0, 1, 1, 2, 2][n % 6]),
    split_by_slice: Array.from({ length: N }, (_, n) => [0, 1, 2, 0, 0, 0][n % 6]),
  };
  opts.mutate?.(img, msk, meta);
  writeFileSync(join(dir, 'images.f32'), new Uint8Array(img.buffer));
  writeFileSync(join(dir, 'masks.u8'), msk);
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
  return dir;
}

describe('prepared: tiny folder', () => {
  it('loads images, masks, splits and ids; computes sizes when meta has none', () => {
    const dir = writeTiny();
    const ds = loadPrepared(dir);
    expect(ds.count).toBe(6);
    expect(ds.height).toBe(8);
    expect(ds.width).toBe(6);
    expect(ds.images[5]).toBe(Math.fround(Math.sin(5)));
    expect(Array.from(ds.split)).toEqual([0, 0, 1, 1, 2, 2]);
    expect(Array.from(ds.volumeId ?? [])).toEqual([0, 0, 1, 1, 2, 2]);
    expect(Array.from(ds.sliceIndex ?? [])).toEqual([0, 1, 0, 1, 0, 1]);
    expect(Array.from(ds.sizes)).toEqual(Array.from(maskSizes(ds.masks, 6, 8, 6)));
    expect(Array.from(ds.sizes)).toEqual([2, 2, 4, 4, 2, 2]); // bars of 1..4 rows × 3 columns
    expect(ds.source).toMatch(/sizes computed from the masks; split_by_volume from meta\.json/);
    const bySlice = loadPrepared(dir, { split: 'slice' });
    expect(Array.from(bySlice.split)).toEqual([0, 1, 2, 0, 0, 0]);
  });

  it('falls back to a seeded split by volume when meta has no split arrays', () => {
    const dir = writeTiny({
      N: 40,
      mutate: (_i, _m, meta) => {
        delete meta.split_by_volume;
        delete meta.split_by_slice;
        meta.volume_id = Array.from({ length: 40 }, (_, n) => `v${Math.floor(n / 4)}`);
        meta.slice_index = Array.from({ length: 40 }, (_, n) => n % 4);
      },
    });
    const a = loadPrepared(dir, { seed: 7 });
    const b = loadPrepared(dir, { seed: 7 });
    expect(Array.from(a.split)).toEqual(Array.from(b.split));
    for (let n = 0; n < 40; n += 4) for (let k = 1; k < 4; k++) expect(a.split[n + k]).toBe(a.split[n]);
    expect(indicesOf(a, 'train').length).toBe(28);
    expect(indicesOf(a, 'val').length).toBe(4);
    expect(indicesOf(a, 'test').length).toBe(8);
    expect(a.source).toMatch(/seeded 70\/10\/20 split by volume \(seed 7\)/);
  });

  it('errors: missing folder / meta / images name the path and what to pass', () => {
    expect(() => loadPrepared('/nonexistent/sizeseg')).toThrow(
      /folder \/nonexistent\/sizeseg does not exist; to get the real slices, run 'npx sizeseg data download msd-task04' once and pass 'msd'.*msd:DIR.*synthetic/,
    );
    const empty = mkdtempSync(join(tmpdir(), 'sizeseg-prep-empty-'));
    expect(() => loadPrepared(empty)).toThrow(new RegExp(`missing ${join(empty, 'meta.json')}.*prepared:DIR`));
    const dir = writeTiny();
    const noImg = mkdtempSync(join(tmpdir(), 'sizeseg-prep-noimg-'));
    copyFileSync(join(dir, 'meta.json'), join(noImg, 'meta.json'));
    copyFileSync(join(dir, 'masks.u8'), join(noImg, 'masks.u8'));
    expect(() => loadPrepared(noImg)).toThrow(new RegExp(`missing images file ${join(noImg, 'images.f32')}`));
  });

  it('errors: truncated files name expected vs actual bytes', () => {
    const dir = writeTiny();
    const b = readFileSync(join(dir, 'images.f32'));
    writeFileSync(join(dir, 'images.f32'), b.subarray(0, b.length - 4));
    expect(() => loadPrepared(dir)).toThrow(/images\.f32 has 1148 bytes, expected 1152.*truncated/);
    const dir2 = writeTiny();
    writeFileSync(join(dir2, 'masks.u8'), new Uint8Array(10));
    expect(() => loadPrepared(dir2)).toThrow(/masks\.u8 has 10 bytes, expected 288/);
  });

  it('errors: non-binary masks, non-finite images, bad meta', () => {
    expect(() => loadPrepared(writeTiny({ mutate: (_i, m) => (m[50] = 255) }))).toThrow(
      /0\/1 values, found 255 in mask 1/,
    );
    expect(() => loadPrepared(writeTiny({ mutate: (i) => (i[100] = Number.NaN) }))).toThrow(
      /non-finite value NaN in image 2/,
    );
    expect(() => loadPrepared(writeTiny({ mutate: (_i, _m, meta) => (meta.H = 'x') }))).toThrow(/positive integer "H"/);
    expect(() => loadPrepared(writeTiny({ mutate: (_i, _m, meta) => (meta.size = [1, 2]) }))).toThrow(
      /"size" must be an array of N = 6/,
    );
    expect(() =>
      loadPrepared(writeTiny({ mutate: (_i, _m, meta) => (meta.split_by_volume = [0, 0, 0, 0, 0, 7]) })),
    ).toThrow(/"split_by_volume"\[5\] is 7; split codes are the integers 0/);
  });

  it('loadDataset spec errors list the valid specs', async () => {
    await expect(loadDataset('nope:abc')).rejects.toThrow(/unknown dataset spec.*synthetic.*prepared:DIR.*msd:DIR/);
    await expect(loadDataset('prepared:')).rejects.toThrow(/needs a folder/);
  });
});

describe.skipIf(!haveShared)('prepared: ../shared/data/hippocampus', sharedDataNote(PREP_DIR), () => {
  it('loads 6103 slices with the documented splits and sizes', async () => {
    const ds = await loadDataset(`prepared:${PREP_DIR}`);
    const meta = JSON.parse(readFileSync(join(PREP_DIR, 'meta.json'), 'utf8')) as {
      split_by_volume_counts: Record<string, number>;
      split_by_slice_counts: Record<string, number>;
      size: number[];
    };
    expect(ds.count).toBe(6103);
    expect([ds.height, ds.width]).toEqual([48, 32]);
    for (const s of ['train', 'val', 'test'] as const)
      expect(indicesOf(ds, s).length).toBe(meta.split_by_volume_counts[s]);
    // no volume in two splits
    const splitOfVol = new Map<number, number>();
    for (let n = 0; n < ds.count; n++) {
      const v = ds.volumeId?.[n] as number;
      const prev = splitOfVol.get(v);
      if (prev === undefined) splitOfVol.set(v, ds.split[n] as number);
      else expect(prev).toBe(ds.split[n]);
    }
    // the sizes in meta.json equal our own g of the masks
    expect(Array.from(maskSizes(ds.masks, ds.count, 48, 32))).toEqual(meta.size);
    const bySlice = loadPrepared(PREP_DIR, { split: 'slice' });
    for (const s of ['train', 'val', 'test'] as const)
      expect(indicesOf(bySlice, s).length).toBe(meta.split_by_slice_counts[s]);
    const sub = loadPrepared(PREP_DIR, { count: 500, seed: 2 });
    expect(sub.count).toBe(500);
    expect(indicesOf(sub, 'train').length).toBeGreaterThan(250);
  });
});
