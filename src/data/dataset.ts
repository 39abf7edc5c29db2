/**
 * The common in-memory dataset type, splits, batching with seeded flips, and the object-size helper that the
 * loaders use for masks that come without precomputed sizes.
 */
import { Rng } from '../autograd/rng.js';
import { finiteSize, objectSizeUnchecked } from '../estimators/objectSize.js';

/** One set of 2-D single-channel images with binary masks. */
export interface SegDataset {
  name: string;
  height: number;
  width: number;
  count: number;
  /** `[N][H][W]` float32, row-major. */
  images: Float32Array;
  /** `[N][H][W]` 0/1. */
  masks: Uint8Array;
  /**
   * Target object size per image: `g(mask)` (`2·max` Chebyshev DT), finite — an all-foreground mask, whose g is
   * +∞, gets `2·max(H, W)` by the same +∞ rule the loss applies to sampled masks (`finiteSize`), so targets and
   * samples are measured alike.
   */
  sizes: Float32Array;
  /** Split code per image: 0 train, 1 val, 2 test. */
  split: Uint8Array;
  /** Source volume per image (MSD/prepared data), for leakage-free splits. */
  volumeId?: Int32Array;
  /** Slice index within the volume (MSD/prepared data). */
  sliceIndex?: Int32Array;
  /** Human-readable provenance: where the data and the split came from. */
  source: string;
}

export type SplitName = 'train' | 'val' | 'test';
export const SPLIT_CODE: Readonly<Record<SplitName, number>> = { train: 0, val: 1, test: 2 };

export interface LoadOptions {
  /** Seed for generated data, generated splits and subsets. */
  seed?: number;
  /** Number of images (synthetic: how many to generate; files: a seeded subset, original order kept). */
  count?: number;
  /** `volume` (default, no leakage) or `slice` (random images, as in the paper). */
  split?: 'volume' | 'slice';
}

/** Indices of the images in one split, ascending. */
export function indicesOf(ds: SegDataset, which: SplitName): number[] {
  const code = SPLIT_CODE[which];
  if (code === undefined) throw new Error(`indicesOf: unknown split ${JSON.stringify(which)} (train, val or test).`);
  const out: number[] = [];
  for (let i = 0; i < ds.count; i++) if (ds.split[i] === code) out.push(i);
  return out;
}

export interface Batch {
  /** `[B][1][H][W]` float32. */
  images: Float32Array;
  /** `[B][H][W]` 0/1 (same pixel order as `images`). */
  masks: Uint8Array;
  sizes: Float32Array;
  /** Dataset indices of the batch items. */
  indices: number[];
  batch: number;
  height: number;
  width: number;
}

export interface BatchOptions {
  /** If given, each item is flipped horizontally with probability ½ and, independently, vertically with ½. */
  flip?: Rng;
}

/**
 * Gather `indices` into a batch. Flips leave `g` unchanged (the Chebyshev distance transform and the
 * "border is not background" rule are symmetric under flips), so sizes are copied as they are.
 */
export function makeBatch(ds: SegDataset, indices: readonly number[], opts: BatchOptions = {}): Batch {
  const H = ds.height;
  const W = ds.width;
  const V = H * W;
  const B = indices.length;
  const images = new Float32Array(B * V);
  const masks = new Uint8Array(B * V);
  const sizes = new Float32Array(B);
  for (let b = 0; b < B; b++) {
    const n = indices[b] as number;
    if (!Number.isInteger(n) || n < 0 || n >= ds.count) {
      throw new Error(`makeBatch: index ${n} out of range [0, ${ds.count}).`);
    }
    sizes[b] = ds.sizes[n] as number;
    const src = n * V;
    const dst = b * V;
    let fh = false;
    let fv = false;
    if (opts.flip) {
      fh = opts.flip.uniform() < 0.5;
      fv = opts.flip.uniform() < 0.5;
    }
    if (!fh && !fv) {
      images.set(ds.images.subarray(src, src + V), dst);
      masks.set(ds.masks.subarray(src, src + V), dst);
      continue;
    }
    for (let r = 0; r < H; r++) {
      const sr = fv ? H - 1 - r : r;
      for (let c = 0; c < W; c++) {
        const sc = fh ? W - 1 - c : c;
        const s = src + sr * W + sc;
        images[dst + r * W + c] = ds.images[s] as number;
        masks[dst + r * W + c] = ds.masks[s] as number;
      }
    }
  }
  return { images, masks, sizes, indices: [...indices], batch: B, height: H, width: W };
}

export interface BatchIteratorOptions extends BatchOptions {
  /** Drop a last batch smaller than `batchSize` (default false). */
  dropLast?: boolean;
  /** Shuffle the order (default true). */
  shuffle?: boolean;
}

/**
 * One epoch of batches over `indices`, in an order shuffled by `rng` (a copy is shuffled; `indices` is untouched).
 * Pass the same `rng` across epochs for a fresh order each epoch; the whole run stays reproducible from its seed.
 */
export function* batchIterator(
  ds: SegDataset,
  indices: readonly number[],
  batchSize: number,
  rng: Rng,
  opts: BatchIteratorOptions = {},
): Generator<Batch> {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batchIterator: batchSize must be a positive integer, got ${batchSize}.`);
  }
  const order = [...indices];
  if (opts.shuffle ?? true) rng.shuffle(order);
  for (let start = 0; start < order.length; start += batchSize) {
    const chunk = order.slice(start, start + batchSize);
    if (chunk.length < batchSize && opts.dropLast) break;
    yield makeBatch(ds, chunk, opts.flip ? { flip: opts.flip } : {});
  }
}

/**
 * `m` distinct training images for supervised pre-training, drawn uniformly with `rng`, ascending.
 * Throws if the training split has fewer than `m` images.
 */
export function selectAnnotated(ds: SegDataset, m: number, rng: Rng): number[] {
  const train = indicesOf(ds, 'train');
  if (!Number.isInteger(m) || m < 0) throw new Error(`selectAnnotated: m must be a non-negative integer, got ${m}.`);
  if (m > train.length) {
    throw new Error(
      `selectAnnotated: asked for ${m} annotated images but the training split has only ${train.length}.`,
    );
  }
  // Partial Fisher–Yates: the first m of a uniformly random permutation.
  const pool = [...train];
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(pool.length - i);
    const t = pool[i] as number;
    pool[i] = pool[j] as number;
    pool[j] = t;
  }
  return pool.slice(0, m).sort((a, b) => a - b);
}

/** Fractions of a 70/10/20 split rounded to counts that add up to `n`. */
export function splitCounts(
  n: number,
  fractions: readonly [number, number, number] = [0.7, 0.1, 0.2],
): [number, number, number] {
  const train = Math.round(n * fractions[0]);
  const val = Math.min(n - train, Math.round(n * fractions[1]));
  return [train, val, n - train - val];
}

/** A seeded 70/10/20 split of `n` items (codes 0/1/2 per item). */
export function randomSplit(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const [nt, nv] = splitCounts(n);
  const split = new Uint8Array(n);
  order.forEach((idx, rank) => {
    split[idx] = rank < nt ? 0 : rank < nt + nv ? 1 : 2;
  });
  return split;
}

/** A seeded 70/10/20 split by volume: all slices of one volume share a split. */
export function volumeSplit(volumeId: Int32Array, seed: number): Uint8Array {
  const vols = [...new Set(volumeId)].sort((a, b) => a - b);
  const volSplit = randomSplit(vols.length, seed);
  const codeOf = new Map<number, number>();
  vols.forEach((v, i) => codeOf.set(v, volSplit[i] as number));
  const split = new Uint8Array(volumeId.length);
  for (let i = 0; i < volumeId.length; i++) split[i] = codeOf.get(volumeId[i] as number) as number;
  return split;
}

/**
 * Keep `count` images chosen by a seeded draw, in their original order (splits, sizes and ids carried along).
 * Returns `ds` itself when `count` is absent or not smaller than `ds.count`.
 */
export function subsetDataset(ds: SegDataset, count: number | undefined, seed: number): SegDataset {
  if (count === undefined || count >= ds.count) return ds;
  if (!Number.isInteger(count) || count < 1) throw new Error(`count must be a positive integer, got ${count}.`);
  const rng = new Rng(seed ^ 0x5eed5);
  const keep = rng
    .shuffle(Array.from({ length: ds.count }, (_, i) => i))
    .slice(0, count)
    .sort((a, b) => a - b);
  return takeIndices(ds, keep, `${ds.source}; seeded subset of ${count} of ${ds.count} images (seed ${seed})`);
}

/** A new dataset made of the given images, in the given order. */
export function takeIndices(ds: SegDataset, keep: readonly number[], source = ds.source): SegDataset {
  const V = ds.height * ds.width;
  const n = keep.length;
  const images = new Float32Array(n * V);
  const masks = new Uint8Array(n * V);
  const sizes = new Float32Array(n);
  const split = new Uint8Array(n);
  const volumeId = ds.volumeId ? new Int32Array(n) : undefined;
  const sliceIndex = ds.sliceIndex ? new Int32Array(n) : undefined;
  keep.forEach((k, i) => {
    images.set(ds.images.subarray(k * V, (k + 1) * V), i * V);
    masks.set(ds.masks.subarray(k * V, (k + 1) * V), i * V);
    sizes[i] = ds.sizes[k] as number;
    split[i] = ds.split[k] as number;
    if (volumeId && ds.volumeId) volumeId[i] = ds.volumeId[k] as number;
    if (sliceIndex && ds.sliceIndex) sliceIndex[i] = ds.sliceIndex[k] as number;
  });
  const out: SegDataset = {
    name: ds.name,
    height: ds.height,
    width: ds.width,
    count: n,
    images,
    masks,
    sizes,
    split,
    source,
  };
  if (volumeId) out.volumeId = volumeId;
  if (sliceIndex) out.sliceIndex = sliceIndex;
  return out;
}

/**
 * Object size of the mask at `mask[offset …]`: `2·max` Chebyshev distance transform, pixels outside the
 * image NOT background, `+Infinity` without background (the estimators' `g`, src/estimators/objectSize.ts).
 * `scratch` (length ≥ H·W) avoids an allocation per mask.
 */
export function maskSize(
  mask: Uint8Array,
  H: number,
  W: number,
  offset = 0,
  scratch: Int32Array = new Int32Array(H * W),
): number {
  return objectSizeUnchecked(mask, offset, H, W, scratch);
}

/**
 * Target sizes of all masks of a `[N][H][W]` stack: g with the +∞ rule applied (an all-foreground mask gets
 * `2·max(H, W)`, as a sampled all-foreground mask does in the loss; see `finiteSize`).
 */
export function maskSizes(masks: Uint8Array, N: number, H: number, W: number): Float32Array {
  const out = new Float32Array(N);
  const scratch = new Int32Array(H * W);
  for (let n = 0; n < N; n++) out[n] = finiteSize(maskSize(masks, H, W, n * H * W, scratch), H, W);
  return out;
}
