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
 * its `split_by_volume` / `split_by_slice` are used; else, for all 260 labelled Task04 volumes at the default
 * size and threshold, the splits of the documented results (task04Splits.ts, the same ones); otherwise a
 * seeded 70/10/20 split by volume (or by slice).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { LoadOptions, SegDataset } from './dataset.js';
import { maskSizes, randomSplit, subsetDataset, volumeSplit } from './dataset.js';
import { compareIds, slicesFromVolumes, type VolumeStats } from './msdSlices.js';
import { readNifti } from './nifti.js';
import { TASK04_SLICES, TASK04_SPLIT_BY_SLICE, TASK04_SPLIT_BY_VOLUME } from './task04Splits.js';

export { numpyMeanStd, pairwiseSum, slicesFromVolumes } from './msdSlices.js';
export type { MsdSliceOptions, MsdSlices, MsdVolumePair, VolumeStats } from './msdSlices.js';

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

export interface MsdDataset extends SegDataset {
  volumeStats: VolumeStats[];
  /** Volume ids as in the file names ("001"). */
  volumeNames: string[];
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

  const sliced = slicesFromVolumes(
    ids.map((id) => {
      const imageName = images.get(id) as string;
      const labelName = labels.get(id) as string;
      return { id, image: readNifti(imageName), label: readNifti(labelName), imageName, labelName };
    }),
    { height: H, width: W, minForegroundFraction: opts.minForegroundFraction, onVolume: opts.onVolume },
  );
  const { count: N, images: allImages, masks: allMasks, volumeId, sliceIndex, names, volumeStats: stats } = sliced;
  const volumeIds = [...volumeId];
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
  if (!split && H === 48 && W === 32 && opts.minForegroundFraction === undefined) {
    const stored = storedTask04Split(names, mode);
    if (stored) {
      split = stored;
      splitNote = `the documented ${mode === 'slice' ? 'split_by_slice' : 'split_by_volume'} (src/data/task04Splits.ts)`;
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

/**
 * The documented results' split (task04Splits.ts) for these slices, when they are the 6103 slices of all 260
 * labelled Task04 volumes (then they are the prepared copy's slices, in its order); otherwise undefined.
 */
function storedTask04Split(sliceVolumes: readonly string[], mode: 'volume' | 'slice'): Uint8Array | undefined {
  const byVolume = TASK04_SPLIT_BY_VOLUME;
  const code = new Map<string, number>();
  byVolume.train.forEach((v) => code.set(v, 0));
  byVolume.val.forEach((v) => code.set(v, 1));
  byVolume.test.forEach((v) => code.set(v, 2));
  const present = new Set(sliceVolumes);
  if (sliceVolumes.length !== TASK04_SLICES || present.size !== code.size) return undefined;
  for (const v of present) if (!code.has(v)) return undefined;
  if (mode === 'slice') return Uint8Array.from(TASK04_SPLIT_BY_SLICE, (c) => c.charCodeAt(0) - 48);
  return Uint8Array.from(sliceVolumes, (v) => code.get(v) as number);
}
