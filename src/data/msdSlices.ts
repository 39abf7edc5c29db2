/**
 * MSD volumes → 2-D slices, on decoded volumes (no files, no Node imports: the web page uses it on volumes the
 * user drops). The rules (crop/pad, foreground, kept slices, per-volume z-score) are those of `loadMsd`, which
 * reads the files and calls this; see src/data/msd.ts.
 */
import type { NiftiVolume } from './niftiBytes.js';

export interface MsdSliceOptions {
  height?: number;
  width?: number;
  /** Minimum foreground fraction of the cropped slice (default 0.01 → 16 pixels at 48×32). */
  minForegroundFraction?: number;
  /** Called per volume, for progress display. */
  onVolume?: (id: string, done: number, total: number) => void;
}

/** One training case: the image volume and its label volume, with the case id ("hippocampus_001"). */
export interface MsdVolumePair {
  id: string;
  image: NiftiVolume;
  label: NiftiVolume;
  /** Names for error messages (file paths in Node, file names in a page). */
  imageName?: string;
  labelName?: string;
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

/** The kept slices of a list of volumes, in order, and where each came from. */
export interface MsdSlices {
  height: number;
  width: number;
  count: number;
  images: Float32Array;
  masks: Uint8Array;
  volumeId: Int32Array;
  sliceIndex: Int32Array;
  /** Volume id of each slice as in the file name ("001"). */
  names: string[];
  volumeStats: VolumeStats[];
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

/** Sort key: names ending in digits sort by the number (then by name), others by name. */
export function compareIds(a: string, b: string): number {
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

/**
 * The kept 2-D slices of the given volumes (in the order given; `loadMsd` sorts them by id first).
 * Pure: the same volumes give the same slices in Node and in a page.
 */
export function slicesFromVolumes(pairs: readonly MsdVolumePair[], opts: MsdSliceOptions = {}): MsdSlices {
  const H = opts.height ?? 48;
  const W = opts.width ?? 32;
  const V = H * W;
  const minFg = Math.ceil((opts.minForegroundFraction ?? 0.01) * V - 1e-9);
  const outImages: Float32Array[] = [];
  const outMasks: Uint8Array[] = [];
  const volumeIds: number[] = [];
  const sliceIdx: number[] = [];
  const names: string[] = [];
  const stats: VolumeStats[] = [];

  pairs.forEach((pair, vi) => {
    const id = pair.id;
    const imgPath = pair.imageName ?? `image ${id}`;
    const labPath = pair.labelName ?? `label ${id}`;
    const img = pair.image;
    const lab = pair.label;
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
      throw new Error(
        `msd dataset: ${imgPath} has a non-finite voxel (${x[bad]}) at (${bi}, ${bj}, ${bk}); the file is damaged: replace it from the Task04 archive, or remove it together with ${labPath}.`,
      );
    }
    const badLabel = lab.data.findIndex((v) => v !== 0 && v !== 1 && v !== 2);
    if (badLabel >= 0) {
      // many different values: an intact image in the labels' place (a user's first mistake), not a damaged label map
      if (distinctAtLeast(lab.data, LABEL_MAP_MAX_VALUES + 1)) {
        throw new Error(
          `msd dataset: ${labPath} looks like an image, not a label map (more than ${LABEL_MAP_MAX_VALUES} different values; Task04 labels are 0, 1 and 2): put the labelsTr/ file of ${imgPath} there, or check that the images and labels folders are not swapped.`,
        );
      }
      throw new Error(
        `msd dataset: ${labPath} has label ${lab.data[badLabel]} at voxel ${badLabel} (Task04 labels are 0, 1 and 2); the file is damaged: replace it from the Task04 archive, or remove it together with ${imgPath}.`,
      );
    }
    const { mean, std } = numpyMeanStd(x);
    if (!(std > 0))
      throw new Error(
        `msd dataset: ${imgPath} is constant (std 0); cannot z-score it: replace it from the Task04 archive, or remove it together with ${labPath}.`,
      );
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
    opts.onVolume?.(name, vi + 1, pairs.length);
  });

  const N = outImages.length;
  const allImages = new Float32Array(N * V);
  const allMasks = new Uint8Array(N * V);
  for (let n = 0; n < N; n++) {
    allImages.set(outImages[n] as Float32Array, n * V);
    allMasks.set(outMasks[n] as Uint8Array, n * V);
  }
  return {
    height: H,
    width: W,
    count: N,
    images: allImages,
    masks: allMasks,
    volumeId: Int32Array.from(volumeIds),
    sliceIndex: Int32Array.from(sliceIdx),
    names,
    volumeStats: stats,
  };
}

/** A label map has a handful of values; an image has many (the page's file sorting uses the same rule). */
const LABEL_MAP_MAX_VALUES = 8;

/** Whether `values` holds at least `n` different numbers (stops counting there). */
function distinctAtLeast(values: ArrayLike<number>, n: number): boolean {
  const seen = new Set<number>();
  for (let i = 0; i < values.length && seen.size < n; i++) seen.add(values[i] as number);
  return seen.size >= n;
}
