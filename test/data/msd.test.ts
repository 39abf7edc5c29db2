import { afterEach, describe, expect, it, vi } from 'vitest';
import { gzipSync } from 'node:zlib';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMsd, numpyMeanStd, pairwiseSum } from '../../src/data/msd.js';
import { loadDataset } from '../../src/data/index.js';
import { loadPrepared } from '../../src/data/prepared.js';
import { indicesOf, maskSize } from '../../src/data/dataset.js';
import { NIFTI_DT, encodeNifti } from '../../src/data/nifti.js';
import { sharedDataNote } from '../_helpers/skipNote.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MSD_DIR = resolve(repoRoot, '../shared/data/msd-task04-hippocampus');
const PREP_DIR = resolve(repoRoot, '../shared/data/hippocampus');
const haveShared = existsSync(join(MSD_DIR, 'imagesTr')) && existsSync(join(PREP_DIR, 'meta.json'));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('numpy-compatible float64 statistics', () => {
  // Values exact in both numpy and JavaScript; numpy 2.4 results pinned (they differ from a naive running sum).
  const make = (n: number): Float64Array =>
    Float64Array.from({ length: n }, (_, i) => ((((i * 7919) % 1000) - 500) * 10 ** (i % 7)) / 3);

  it('pairwiseSum matches np.sum bit for bit where a running sum does not', () => {
    const pinned: [number, number, number, number][] = [
      [1000, 246176236.33333334, 246176.23633333333, 36276132.91076856],
      [1001, 79509569.66666675, 79430.1395271396, 36639424.62135647],
      [1500, 194785221.66666695, 129856.81444444464, 36487829.80104438],
      [4097, -295272881.66666615, -72070.51053616454, 36531515.46263722],
    ];
    for (const [n, sum, mean, std] of pinned) {
      const x = make(n);
      let naive = 0;
      for (const v of x) naive += v;
      expect(pairwiseSum(x)).toBe(sum);
      expect(naive).not.toBe(sum);
      const st = numpyMeanStd(x);
      expect(st.mean).toBe(mean);
      expect(st.std).toBe(std);
    }
  });

  it('short arrays sum left to right', () => {
    const x = Float64Array.from([0.1, 0.2, 0.3, 1e16, -1e16, 1]);
    expect(pairwiseSum(x)).toBe(0.1 + 0.2 + 0.3 + 1e16 - 1e16 + 1);
  });
});

/** Writes a tiny MSD folder: volumes with crop and pad in both axes, labels 1/2, one image without label. */
function makeTinyMsd(): {
  dir: string;
  vols: Map<string, { I: number; J: number; K: number; img: number[]; lab: number[] }>;
} {
  const dir = mkdtempSync(join(tmpdir(), 'sizeseg-msd-'));
  mkdirSync(join(dir, 'imagesTr'));
  mkdirSync(join(dir, 'labelsTr'));
  const vols = new Map<string, { I: number; J: number; K: number; img: number[]; lab: number[] }>();
  const specs: [string, number, number, number, number, boolean][] = [
    // id, I (→ columns, target 32), J (→ rows, target 48), K, datatype, big-endian
    ['hippocampus_010', 35, 51, 4, NIFTI_DT.UINT8, false], // crop both: oi = 1, oj = 1
    ['hippocampus_002', 30, 45, 3, NIFTI_DT.FLOAT32, true], // pad both: columns at 1, rows at 1
  ];
  for (const [id, I, J, K, dt, be] of specs) {
    const img: number[] = [];
    const lab: number[] = [];
    for (let k = 0; k < K; k++) {
      for (let j = 0; j < J; j++) {
        for (let i = 0; i < I; i++) {
          const v = (i * 3 + j * 5 + k * 7) % 97;
          img.push(dt === NIFTI_DT.UINT8 ? v : v * 1.25 + 0.5);
          // k = 0: 20 fg pixels (kept); k = 1: 15 (dropped); k = 2: block of labels 1 and 2 (kept); k = 3: none
          let l = 0;
          if (k === 0 && j >= 10 && j < 14 && i >= 5 && i < 10) l = 1;
          if (k === 1 && j >= 10 && j < 13 && i >= 5 && i < 10) l = 2;
          if (k === 2 && j >= 20 && j < 30 && i >= 10 && i < 20) l = j < 25 ? 1 : 2;
          lab.push(l);
        }
      }
    }
    vols.set(id, { I, J, K, img, lab });
    const ib = encodeNifti(img, [I, J, K], { datatype: dt, littleEndian: !be });
    const lb = encodeNifti(lab, [I, J, K], { datatype: NIFTI_DT.UINT8, littleEndian: !be });
    writeFileSync(join(dir, 'imagesTr', `${id}.nii.gz`), gzipSync(ib));
    writeFileSync(join(dir, 'labelsTr', `${id}.nii.gz`), gzipSync(lb));
  }
  // an image without a label, and a macOS resource-fork file that must be ignored
  writeFileSync(
    join(dir, 'imagesTr', 'hippocampus_005.nii.gz'),
    gzipSync(encodeNifti([1, 2, 3, 4], [2, 2, 1], { datatype: NIFTI_DT.UINT8 })),
  );
  writeFileSync(join(dir, 'imagesTr', '._hippocampus_010.nii.gz'), Buffer.from('junk'));
  return { dir, vols };
}

describe('msd: loader on a tiny folder written by the test', () => {
  it('slices, crops/pads, filters, normalises and orders as documented', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { dir, vols } = makeTinyMsd();
    const ds = loadMsd(dir, { meta: false, seed: 3 });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/hippocampus_005.*no label.*skipping/);
    // volume order: 002 before 010 (numeric), slices k = 0 and 2 kept in each
    expect(Array.from(ds.volumeId ?? [])).toEqual([2, 2, 10, 10]);
    expect(Array.from(ds.sliceIndex ?? [])).toEqual([0, 2, 0, 2]);
    expect(ds.volumeNames).toEqual(['002', '002', '010', '010']);
    expect(ds.count).toBe(4);
    const H = 48;
    const W = 32;
    for (let n = 0; n < ds.count; n++) {
      const id = `hippocampus_${ds.volumeNames[n]}`;
      const v = vols.get(id);
      if (!v) throw new Error('missing volume');
      const k = ds.sliceIndex?.[n] as number;
      // reference statistics (a naive two-pass mean/std agrees to ~1e-12 relative)
      const mean = v.img.reduce((a, b) => a + b, 0) / v.img.length;
      const std = Math.sqrt(v.img.reduce((a, b) => a + (b - mean) ** 2, 0) / v.img.length);
      const stats = ds.volumeStats.find((s) => s.id === ds.volumeNames[n]);
      expect(stats?.mean).toBeCloseTo(mean, 9);
      expect(stats?.std).toBeCloseTo(std, 9);
      const oi = v.I >= W ? Math.floor((v.I - W) / 2) : -Math.floor((W - v.I) / 2);
      const oj = v.J >= H ? Math.floor((v.J - H) / 2) : -Math.floor((H - v.J) / 2);
      for (let r = 0; r < H; r++) {
        for (let c = 0; c < W; c++) {
          const i = c + oi;
          const j = r + oj;
          const inside = i >= 0 && i < v.I && j >= 0 && j < v.J;
          const raw = inside ? (v.img[i + v.I * (j + v.J * k)] as number) : 0;
          const l = inside ? (v.lab[i + v.I * (j + v.J * k)] as number) : 0;
          const got = ds.images[n * H * W + r * W + c] as number;
          expect(Math.abs(got - (raw - mean) / std)).toBeLessThan(1e-5);
          expect(ds.masks[n * H * W + r * W + c]).toBe(l === 1 || l === 2 ? 1 : 0);
        }
      }
      expect(ds.sizes[n]).toBe(maskSize(ds.masks, H, W, n * H * W));
    }
    // padded pixels: raw 0 → −mean/std (the darkest value of a non-negative volume)
    const padVol = ds.volumeStats.find((s) => s.id === '002');
    expect(ds.images[0]).toBe(Math.fround(-(padVol?.mean as number) / (padVol?.std as number)));
    expect(ds.source).toMatch(/seeded 70\/10\/20 split by volume \(seed 3\)/);
    // split by volume: both slices of a volume share a split
    expect(ds.split[0]).toBe(ds.split[1]);
    expect(ds.split[2]).toBe(ds.split[3]);
  });

  it("loadDataset routes 'msd:DIR' and honours count (seeded subset, order kept)", async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { dir } = makeTinyMsd();
    const ds = await loadDataset(`msd:${dir}`, { count: 2, seed: 1 });
    expect(ds.count).toBe(2);
    const full = loadMsd(dir, { meta: false });
    const pairs = Array.from({ length: 2 }, (_, n) => `${ds.volumeId?.[n]}/${ds.sliceIndex?.[n]}`);
    const all = Array.from({ length: full.count }, (_, n) => `${full.volumeId?.[n]}/${full.sliceIndex?.[n]}`);
    expect(all.indexOf(pairs[0] as string)).toBeLessThan(all.indexOf(pairs[1] as string));
  });

  it('errors: missing folders name the path and the alternatives', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sizeseg-msd-empty-'));
    expect(() => loadMsd(dir)).toThrow(/missing folder .*imagesTr.*prepared:DIR/);
  });

  it('errors: an image given as a label is called an image, a label map with a stray value is called damaged', () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { dir, vols } = makeTinyMsd();
    const v = vols.get('hippocampus_010')!;
    const put = (values: number[]) =>
      writeFileSync(
        join(dir, 'labelsTr', 'hippocampus_010.nii.gz'),
        gzipSync(encodeNifti(values, [v.I, v.J, v.K], { datatype: NIFTI_DT.UINT8 })),
      );
    put(v.img); // the image itself where its label belongs
    expect(() => loadMsd(dir, { meta: false })).toThrow(
      /labelsTr\/hippocampus_010\.nii\.gz looks like an image, not a label map/,
    );
    put(v.lab.map((l, i) => (i === 7 ? 3 : l))); // one stray label
    expect(() => loadMsd(dir, { meta: false })).toThrow(/has label 3 at voxel 7 .*damaged/);
  });

  it('errors: a truncated volume names the file', () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { dir } = makeTinyMsd();
    const p = join(dir, 'labelsTr', 'hippocampus_010.nii.gz');
    const b = readFileSync(p);
    writeFileSync(p, b.subarray(0, b.length - 20));
    expect(() => loadMsd(dir, { meta: false })).toThrow(/hippocampus_010\.nii\.gz: corrupt or truncated gzip/);
  });
});

describe.skipIf(!haveShared)(
  'msd: full reproduction of ../shared/data/hippocampus',
  sharedDataNote(MSD_DIR, PREP_DIR),
  () => {
    it('loading the MSD NIfTI folder gives exactly the prepared slices', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      const t0 = performance.now();
      const ds = loadMsd(MSD_DIR);
      const seconds = (performance.now() - t0) / 1000;
      expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/hippocampus_118.*no label/);
      const ref = loadPrepared(PREP_DIR);
      const meta = JSON.parse(readFileSync(join(PREP_DIR, 'meta.json'), 'utf8')) as {
        N: number;
        volume_id: string[];
        slice_index: number[];
        volume_stats: Record<string, { mean: number; std: number; shape_ijk: number[]; nifti_datatype: number }>;
        split_by_volume_counts: { train: number; val: number; test: number };
      };
      expect(ds.count).toBe(6103);
      expect(ds.count).toBe(meta.N);
      expect(Array.from(ds.volumeId ?? [])).toEqual(meta.volume_id.map((v) => parseInt(v, 10)));
      expect(Array.from(ds.sliceIndex ?? [])).toEqual(meta.slice_index);
      let maskDiff = 0;
      for (let i = 0; i < ds.masks.length; i++) if (ds.masks[i] !== ref.masks[i]) maskDiff++;
      expect(maskDiff).toBe(0);
      let maxDiff = 0;
      let unequal = 0;
      for (let i = 0; i < ds.images.length; i++) {
        const d = Math.abs((ds.images[i] as number) - (ref.images[i] as number));
        if (d > maxDiff) maxDiff = d;
        if (d !== 0) unequal++;
      }
      console.log(
        `msd reproduction: N=${ds.count}, max |Δimage| = ${maxDiff}, unequal pixels = ${unequal}, masks identical, ` +
          `load ${seconds.toFixed(2)} s`,
      );
      expect(maxDiff).toBe(0); // bit identical
      expect(Array.from(ds.sizes)).toEqual(Array.from(ref.sizes));
      // per-volume statistics equal meta.json's float64 values exactly
      expect(ds.volumeStats.length).toBe(260);
      for (const s of ds.volumeStats) {
        const m = meta.volume_stats[s.id];
        expect(m, s.id).toBeDefined();
        expect(s.mean).toBe(m?.mean);
        expect(s.std).toBe(m?.std);
        expect(s.shapeIJK).toEqual(m?.shape_ijk);
        expect(s.datatype).toBe(m?.nifti_datatype);
      }
      // splits come from the sibling meta.json
      expect(ds.source).toMatch(/split_by_volume from .*meta\.json/);
      expect(indicesOf(ds, 'train').length).toBe(meta.split_by_volume_counts.train);
      expect(indicesOf(ds, 'val').length).toBe(meta.split_by_volume_counts.val);
      expect(indicesOf(ds, 'test').length).toBe(meta.split_by_volume_counts.test);
      expect(Array.from(ds.split)).toEqual(Array.from(ref.split));
    }, 60_000);

    it('without a meta.json (as the download is), the full set gets the documented splits, by volume and by slice', () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      const meta = JSON.parse(readFileSync(join(PREP_DIR, 'meta.json'), 'utf8')) as {
        split_by_volume: number[];
        split_by_slice: number[];
      };
      const byVolume = loadMsd(MSD_DIR, { meta: false });
      expect(byVolume.source).toMatch(/documented split_by_volume/);
      expect(Array.from(byVolume.split)).toEqual(meta.split_by_volume);
      const bySlice = loadMsd(MSD_DIR, { meta: false, split: 'slice' });
      expect(bySlice.source).toMatch(/documented split_by_slice/);
      expect(Array.from(bySlice.split)).toEqual(meta.split_by_slice);
      // a part of the volumes is not the documented set: a seeded split, said so
      const part = loadMsd(MSD_DIR, { meta: false, maxVolumes: 40 });
      expect(part.source).toMatch(/seeded 70\/10\/20 split by volume/);
      warn.mockRestore();
    }, 120_000);
  },
);
