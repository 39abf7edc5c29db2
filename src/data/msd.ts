/**
 * `msd:DIR` — the Medical Segmentation Decathlon Task04 (hippocampus) layout: `imagesTr/*.nii.gz` and
 * `labelsTr/*.nii.gz`. Turns the 3-D volumes into the 2-D slices of `data/hippocampus/` exactly
 * (see that folder's README "Choices" and meta.json `pixel_mapping`, `normalisation`):
 *
 *  - volumes in ascending id order; within a volume, slices in ascending k (third stored axis);
 *  - `image[n][r][c] = vol[i = c + oi, j = r + oj, k]`; per axis, a centre crop starts at
 *    `o = (len − target) // 2`, a centre pad puts the slice at `(target − len) // 2`; padding is raw 0;
 *  - foreground = label 1 or 2; a slice is kept when its cropped mask has ≥ 1 % of H·W (16 of 48·32) pixels;
 *  - per-volume z-score `(x − mean)/std` over all voxels of the uncropped volume, computed in float64 (mean and
 *    population std summed exactly as numpy does, pairwise in file order) and then rounded to float32;
 *    padded pixels are raw 0 before normalisation, i.e. they become `−mean/std`;
 *  - an image without a label file is skipped with `console.warn`.
 *
 * Splits: if a `meta.json` of the prepared format is found (`DIR/meta.json`, or the sibling
 * `DIR/../hippocampus/meta.json`) and its `volume_id`/`slice_index` match the slices produced here,
 * its `split_by_volume` / `split_by_slice` are used; otherwise a seeded 70/10/20 split by volume (or by slice).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { LoadOptions, SegDataset } from './dataset.js';
import { maskSizes, randomSplit, subsetDataset, volumeSplit } from './dataset.js';
import { readNifti } from './nifti.js';

export interface MsdOptions extends LoadOptions {
  height?: number;
  width?: number;
  /** Minimum foreground fraction of the cropped slice (default 0.01 → 16 pixels at 48×32). */
  minForegroundFraction?: number;
  /** A meta.json to take splits from; `false` disables the search. */
  meta?: string | false;
  /** Only the first `maxVolumes` volumes (for quick runs). */
  maxVolumes?: number;
  /** Called per volume, for progress display. */
  onVolume?: (id: string, done: number, total: number) => void;
}

/** Per-volume statistics, as in meta.json `volume_stats`. */
export interface VolumeStats {
  id: string;
  shapeIJK: number[];
  datatype: number;
  mean: number;
  std: number;
  kept: number;
}

export interface MsdDataset extends SegDataset {
  volumeStats: VolumeStats[];
  /** Volume ids as in the file names ("001"). */
  volumeNames: string[];
}

const PW_BLOCKSIZE = 128;

/**
 * numpy's pairwise summation (`pairwise_sum_DOUBLE` in loops_utils.h.src), so that float64 means and stds are
 * bit-identical to `np.mean`/`np.std` on a contiguous float64 array.
 */
export function pairwiseSum(a: Float64Array, start = 0, n = a.length - start): number {
  if (n < 8) {
    let res = -0.0;
    for (let i = 0; i < n; i++) res += a[start + i] as number;
    return res;
  }
  if (n <= PW_BLOCKSIZE) {
    let r0 = a[start] as number;
    let r1 = a[start + 1] as number;
    let r2 = a[start + 2] as number;
    let r3 = a[start + 3] as number;
    let r4 = a[start + 4] as number;
    let r5 = a[start + 5] as number;
    let r6 = a[start + 6] as number;
    let r7 = a[start + 7] as number;
    let i = 8;
    const end = n - (n % 8);
    for (; i < end; i += 8) {
      const p = start + i;
      r0 += a[p] as number;
      r1 += a[p + 1] as number;
      r2 += a[p + 2] as number;
      r3 += a[p + 3] as number;
      r4 += a[p + 4] as number;
      r5 += a[p + 5] as number;
      r6 += a[p + 6] as number;
      r7 += a[p + 7] as number;
    }
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) res += a[start + i] as number;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/** `np.mean(x)` and `np.std(x)` (population, ddof = 0) of a float64 array, bit for bit. */
export function numpyMeanStd(x: Float64Array): { mean: number; std: number } {
  const n = x.length;
  const mean = (0 + pairwiseSum(x)) / n;
  const sq = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = (x[i] as number) - mean;
    sq[i] = d * d;
  }
  const variance = (0 + pairwiseSum(sq)) / n;
  return { mean, std: Math.sqrt(variance) };
}

function listNifti(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(dir)) {
    if (f.startsWith('.')) continue; // macOS "._hippocampus_001.nii.gz" resource forks in the MSD tarball
    const m = /^(.*)\.nii(\.gz)?$/.exec(f);
    if (m && m[1] !== undefined) out.set(m[1], join(dir, f));
  }
  return out;
}

/** Sort key: names ending in digits sort by the number (then by name), others by name. */
function compareIds(a: string, b: string): number {
  const na = /(\d+)$/.exec(a);
  const nb = /(\d+)$/.exec(b);
  const pa = na ? a.slice(0, na.index) : a;
  const pb = nb ? b.slice(0, nb.index) : b;
  if (na && nb && pa === pb) return parseInt(na[1] as string, 10) - parseInt(nb[1] as string, 10);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Centre crop/pad along one axis: source start, destination start, length copied. */
function centreRange(len: number, target: number): [number, number, number] {
  if (len >= target) return [Math.floor((len - target) / 2), 0, target];
  return [0, Math.floor((target - len) / 2), len];
}

interface SplitMeta {
  volume_id?: (string | number)[];
  slice_index?: number[];
  split_by_volume?: number[];
  split_by_slice?: number[];
}

function findMeta(dir: string, explicit: string | false | undefined): string | undefined {
  if (explicit === false) return undefined;
  if (explicit !== undefined) {
    if (!existsSync(explicit)) throw new Error(`msd dataset: meta file ${explicit} does not exist.`);
    return explicit;
  }
  for (const p of [join(dir, 'meta.json'), join(dirname(dir), 'hippocampus', 'meta.json')]) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function loadMsd(dirIn: string, opts: MsdOptions = {}): MsdDataset {
  const dir = resolve(dirIn);
  const H = opts.height ?? 48;
  const W = opts.width ?? 32;
  const V = H * W;
  const minFg = Math.ceil((opts.minForegroundFraction ?? 0.01) * V - 1e-9);
  const imgDir = join(dir, 'imagesTr');
  const labDir = join(dir, 'labelsTr');
  for (const d of [imgDir, labDir]) {
    if (!existsSync(d)) {
      throw new Error(
        `msd dataset: missing folder ${d}; 'msd:DIR' needs DIR/imagesTr and DIR/labelsTr with .nii.gz files ` +
          `(the Decathlon Task04 layout). For the prepared slices pass 'prepared:DIR', or 'synthetic'.`,
      );
    }
  }
  const images = listNifti(imgDir);
  const labels = listNifti(labDir);
  let ids = [...images.keys()].sort(compareIds);
  if (ids.length === 0) throw new Error(`msd dataset: no .nii/.nii.gz files in ${imgDir}.`);
  for (const id of ids) {
    if (!labels.has(id)) console.warn(`msd dataset: ${images.get(id)} has no label in ${labDir}; skipping it.`);
  }
  ids = ids.filter((id) => labels.has(id));
  if (opts.maxVolumes !== undefined) ids = ids.slice(0, opts.maxVolumes);

  const outImages: Float32Array[] = [];
  const outMasks: Uint8Array[] = [];
  const volumeIds: number[] = [];
  const sliceIdx: number[] = [];
  const names: string[] = [];
  const stats: VolumeStats[] = [];

  ids.forEach((id, vi) => {
    const imgPath = images.get(id) as string;
    const labPath = labels.get(id) as string;
    const img = readNifti(imgPath);
    const lab = readNifti(labPath);
    const shape = img.header.shape;
    const lshape = lab.header.shape;
    const same = shape.length === lshape.length && shape.every((s, d) => s === lshape[d]);
    if (!same) {
      throw new Error(`msd dataset: ${labPath} has shape ${lshape.join('×')} but ${imgPath} has ${shape.join('×')}.`);
    }
    if (shape.length < 3 || shape.slice(3).some((s) => s !== 1)) {
      throw new Error(`msd dataset: ${imgPath} has shape ${shape.join('×')}, expected a 3-D volume.`);
    }
    const [I, J, K] = shape as [number, number, number];
    const x = img.data;
    const bad = x.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      const [bi, bj, bk] = [bad % I, Math.floor(bad / I) % J, Math.floor(bad / (I * J))];
      throw new Error(`msd dataset: ${imgPath} has a non-finite voxel (${x[bad]}) at (${bi}, ${bj}, ${bk}); the file is damaged: replace it from the Task04 archive, or remove it together with ${labPath}.`);
    }
    const badLabel = lab.data.findIndex((v) => v !== 0 && v !== 1 && v !== 2);
    if (badLabel >= 0) {
      throw new Error(`msd dataset: ${labPath} has label ${lab.data[badLabel]} at voxel ${badLabel} (Task04 labels are 0, 1 and 2); the file is damaged: replace it from the Task04 archive, or remove it together with ${imgPath}.`);
    }
    const { mean, std } = numpyMeanStd(x);
    if (!(std > 0)) throw new Error(`msd dataset: ${imgPath} is constant (std 0); cannot z-score it: replace it from the Task04 archive, or remove it together with ${labPath}.`);
    const padValue = Math.fround((0 - mean) / std);
    const [si, di, li] = centreRange(I, W);
    const [sj, dj, lj] = centreRange(J, H);
    const num = /(\d+)$/.exec(id);
    const vid = num ? parseInt(num[1] as string, 10) : vi;
    const name = num ? (num[1] as string) : id;
    let kept = 0;
    for (let k = 0; k < K; k++) {
      const m = new Uint8Array(V);
      let fg = 0;
      for (let r = 0; r < lj; r++) {
        const j = sj + r;
        for (let c = 0; c < li; c++) {
          const i = si + c;
          const l = lab.data[i + I * (j + J * k)] as number;
          if (l === 1 || l === 2) {
            m[(dj + r) * W + (di + c)] = 1;
            fg++;
          }
        }
      }
      if (fg < minFg) continue;
      const im = new Float32Array(V).fill(padValue);
      for (let r = 0; r < lj; r++) {
        const j = sj + r;
        for (let c = 0; c < li; c++) {
          const i = si + c;
          im[(dj + r) * W + (di + c)] = ((x[i + I * (j + J * k)] as number) - mean) / std;
        }
      }
      outImages.push(im);
      outMasks.push(m);
      volumeIds.push(vid);
      sliceIdx.push(k);
      names.push(name);
      kept++;
    }
    stats.push({ id: name, shapeIJK: [I, J, K], datatype: img.header.datatype, mean, std, kept });
    opts.onVolume?.(name, vi + 1, ids.length);
  });

  const N = outImages.length;
  const allImages = new Float32Array(N * V);
  const allMasks = new Uint8Array(N * V);
  for (let n = 0; n < N; n++) {
    allImages.set(outImages[n] as Float32Array, n * V);
    allMasks.set(outMasks[n] as Uint8Array, n * V);
  }
  const volumeId = Int32Array.from(volumeIds);
  const sliceIndex = Int32Array.from(sliceIdx);
  const seed = opts.seed ?? 0;
  const mode = opts.split ?? 'volume';

  let split: Uint8Array | undefined;
  let splitNote = '';
  const metaPath = findMeta(dir, opts.meta);
  if (metaPath) {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as SplitMeta;
    const key = mode === 'slice' ? 'split_by_slice' : 'split_by_volume';
    const given = meta[key];
    const matches =
      Array.isArray(meta.volume_id) &&
      Array.isArray(meta.slice_index) &&
      Array.isArray(given) &&
      meta.volume_id.length === N &&
      meta.slice_index.length === N &&
      given.length === N &&
      meta.volume_id.every((v, n) => parseInt(String(v), 10) === volumeId[n]) &&
      meta.slice_index.every((s, n) => s === sliceIndex[n]);
    if (matches && given) {
      split = Uint8Array.from(given);
      splitNote = `${key} from ${metaPath}`;
    } else {
      console.warn(
        `msd dataset: ${metaPath} does not describe these ${N} slices (volume_id/slice_index differ); using a seeded split.`,
      );
    }
  }
  if (!split) {
    split = mode === 'slice' ? randomSplit(N, seed) : volumeSplit(volumeId, seed);
    splitNote = `seeded 70/10/20 split by ${mode === 'slice' ? 'slice' : 'volume'} (seed ${seed})`;
  }

  const ds: MsdDataset = {
    name: `msd-${basename(dir)}`,
    height: H,
    width: W,
    count: N,
    images: allImages,
    masks: allMasks,
    sizes: maskSizes(allMasks, N, H, W),
    split,
    volumeId,
    sliceIndex,
    source: `msd:${dir} (${ids.length} volumes → ${N} slices ${H}×${W}; ${splitNote})`,
    volumeStats: stats,
    volumeNames: names,
  };
  if (opts.count !== undefined && opts.count < N) {
    const sub = subsetDataset(ds, opts.count, seed);
    const nameOf = new Map<number, string>();
    volumeIds.forEach((v, n) => nameOf.set(v, names[n] as string));
    const subNames = sub.volumeId ? [...sub.volumeId].map((v) => nameOf.get(v) as string) : [];
    return { ...sub, volumeStats: stats, volumeNames: subNames };
  }
  return ds;
}
