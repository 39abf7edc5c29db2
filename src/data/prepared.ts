/**
 * `prepared:DIR` — the folder format of `data/hippocampus/`: `images.f32` (N×H×W float32 little-endian),
 * `masks.u8` (N×H×W uint8 0/1) and `meta.json` (N, H, W, sizes, splits, per-image volume ids).
 * Everything is validated, with errors that say what was expected and what to pass instead.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LoadOptions, SegDataset } from './dataset.js';
import { maskSizes, randomSplit, subsetDataset, volumeSplit } from './dataset.js';
import { allForegroundSize } from '../estimators/objectSize.js';

const HINT =
  "to get the real slices, run 'npx sizeseg data download msd-task04' once and pass 'msd'; or pass " +
  "'prepared:DIR' with a folder holding images.f32, masks.u8 and meta.json, " +
  "'msd:DIR' for the original MSD Task04 NIfTI folder, or 'synthetic' for the built-in generated data";

/** Subset of `meta.json` that the loader reads. */
export interface PreparedMeta {
  N: number;
  H: number;
  W: number;
  images?: { file?: string };
  masks?: { file?: string };
  size?: number[];
  volume_id?: (string | number)[];
  slice_index?: number[];
  split_by_volume?: number[];
  split_by_slice?: number[];
  seed?: number;
}

function readMeta(dir: string): PreparedMeta {
  const path = join(dir, 'meta.json');
  if (!existsSync(dir)) throw new Error(`prepared dataset: folder ${dir} does not exist; ${HINT}.`);
  if (!existsSync(path)) throw new Error(`prepared dataset: missing ${path}; ${HINT}.`);
  let meta: unknown;
  try {
    meta = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`prepared dataset: ${path} is not valid JSON (${(e as Error).message}).`);
  }
  const m = meta as Partial<PreparedMeta>;
  for (const key of ['N', 'H', 'W'] as const) {
    const v = m[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new Error(`prepared dataset: ${path} must have a positive integer "${key}", got ${JSON.stringify(v)}.`);
    }
  }
  return m as PreparedMeta;
}

function readExact(path: string, expected: number, what: string): Buffer {
  if (!existsSync(path)) throw new Error(`prepared dataset: missing ${what} file ${path}; ${HINT}.`);
  const actual = statSync(path).size;
  if (actual !== expected) {
    throw new Error(
      `prepared dataset: ${path} has ${actual} bytes, expected ${expected} (${what} from meta.json N·H·W` +
        `${what === 'images' ? '·4' : ''}); the file is ${actual < expected ? 'truncated' : 'too long'}.`,
    );
  }
  return readFileSync(path);
}

function checkArray(path: string, key: string, arr: unknown, N: number): void {
  if (!Array.isArray(arr) || arr.length !== N) {
    throw new Error(
      `prepared dataset: ${path} "${key}" must be an array of N = ${N} entries, got ${
        Array.isArray(arr) ? arr.length : typeof arr
      }.`,
    );
  }
}

/**
 * The target sizes of meta.json "size", validated: finite numbers from 0 to 2·max(H, W) (the size of an
 * all-foreground mask under the +∞ rule, the largest there is). `null` stands for +∞ and is accepted only
 * where the mask is all foreground, where it becomes 2·max(H, W) as the loss treats sampled masks.
 */
function checkedSizes(path: string, given: unknown[], masks: Uint8Array, H: number, W: number): Float32Array {
  const largest = allForegroundSize(H, W);
  const V = H * W;
  return Float32Array.from(given, (s, i) => {
    if (s === null) {
      if (masks.subarray(i * V, (i + 1) * V).every((v) => v === 1)) return largest;
      throw new Error(
        `prepared dataset: ${path} "size"[${i}] is null, but mask ${i} is not all foreground (null means an infinite size); write the size g of mask ${i} there, or delete "size" to compute the sizes from the masks.`,
      );
    }
    if (typeof s !== 'number' || !Number.isFinite(s) || s < 0 || s > largest) {
      throw new Error(
        `prepared dataset: ${path} "size"[${i}] is ${JSON.stringify(s)}; a size is a number from 0 to ${largest} (= 2·max(H, W), an all-foreground ${H}×${W} mask) — fix meta.json, or delete "size" to compute the sizes from the masks.`,
      );
    }
    return s;
  });
}

/** Volume ids as integers: numeric strings ("001") are parsed, other ids are numbered by first appearance. */
function parseVolumeIds(ids: (string | number)[]): Int32Array {
  const out = new Int32Array(ids.length);
  const allNumeric = ids.every((v) => /^\d+$/.test(String(v)));
  const seen = new Map<string, number>();
  ids.forEach((v, i) => {
    if (allNumeric) out[i] = parseInt(String(v), 10);
    else {
      const key = String(v);
      if (!seen.has(key)) seen.set(key, seen.size);
      out[i] = seen.get(key) as number;
    }
  });
  return out;
}

export function loadPrepared(dirIn: string, opts: LoadOptions = {}): SegDataset {
  const dir = resolve(dirIn);
  const meta = readMeta(dir);
  const metaPath = join(dir, 'meta.json');
  const { N, H, W } = meta;
  const V = H * W;
  const imgPath = join(dir, meta.images?.file ?? 'images.f32');
  const maskPath = join(dir, meta.masks?.file ?? 'masks.u8');
  const imgBuf = readExact(imgPath, N * V * 4, 'images');
  const maskBuf = readExact(maskPath, N * V, 'masks');

  // images: little-endian float32 regardless of the host.
  const images = new Float32Array(N * V);
  const hostLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (hostLE) {
    new Uint8Array(images.buffer).set(imgBuf);
  } else {
    const dv = new DataView(imgBuf.buffer, imgBuf.byteOffset, imgBuf.byteLength);
    for (let i = 0; i < N * V; i++) images[i] = dv.getFloat32(4 * i, true);
  }
  for (let i = 0; i < N * V; i++) {
    if (!Number.isFinite(images[i] as number)) {
      const n = Math.floor(i / V);
      throw new Error(
        `prepared dataset: ${imgPath} has a non-finite value ${images[i]} in image ${n} (flat index ${i}).`,
      );
    }
  }
  const masks = new Uint8Array(maskBuf.buffer.slice(maskBuf.byteOffset, maskBuf.byteOffset + maskBuf.byteLength));
  for (let i = 0; i < N * V; i++) {
    const v = masks[i] as number;
    if (v > 1) {
      throw new Error(`prepared dataset: ${maskPath} must hold 0/1 values, found ${v} in mask ${Math.floor(i / V)}.`);
    }
  }

  let sizes: Float32Array;
  let sizeNote: string;
  if (meta.size !== undefined) {
    checkArray(metaPath, 'size', meta.size, N);
    sizes = checkedSizes(metaPath, meta.size as unknown[], masks, H, W);
    sizeNote = 'sizes from meta.json';
  } else {
    sizes = maskSizes(masks, N, H, W);
    sizeNote = 'sizes computed from the masks';
  }

  let volumeId: Int32Array | undefined;
  let sliceIndex: Int32Array | undefined;
  if (meta.volume_id !== undefined) {
    checkArray(metaPath, 'volume_id', meta.volume_id, N);
    const bad = (meta.volume_id as unknown[]).findIndex(
      (v) => !(typeof v === 'string' && v !== '') && !(typeof v === 'number' && Number.isInteger(v) && v >= 0),
    );
    if (bad >= 0)
      throw new Error(
        `prepared dataset: ${metaPath} "volume_id"[${bad}] is ${JSON.stringify(meta.volume_id[bad])}; volume ids are non-empty strings or non-negative integers — fix meta.json.`,
      );
    volumeId = parseVolumeIds(meta.volume_id);
  }
  if (meta.slice_index !== undefined) {
    checkArray(metaPath, 'slice_index', meta.slice_index, N);
    const bad = (meta.slice_index as unknown[]).findIndex(
      (v) => typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1,
    );
    if (bad >= 0)
      throw new Error(
        `prepared dataset: ${metaPath} "slice_index"[${bad}] is ${JSON.stringify(meta.slice_index[bad])}; slice indices are non-negative integers — fix meta.json, or delete "slice_index" (it is informative only).`,
      );
    sliceIndex = Int32Array.from(meta.slice_index);
  }

  const seed = opts.seed ?? meta.seed ?? 0;
  const mode = opts.split ?? 'volume';
  const key = mode === 'slice' ? 'split_by_slice' : 'split_by_volume';
  let split: Uint8Array;
  let splitNote: string;
  const given = meta[key];
  if (given !== undefined) {
    checkArray(metaPath, key, given, N);
    const bad = (given as unknown[]).findIndex((v) => v !== 0 && v !== 1 && v !== 2);
    if (bad >= 0) {
      throw new Error(
        `prepared dataset: ${metaPath} "${key}"[${bad}] is ${JSON.stringify(given[bad])}; split codes are the integers 0 (train), 1 (val) and 2 (test) — fix meta.json, or delete "${key}" for a seeded split.`,
      );
    }
    split = Uint8Array.from(given);
    splitNote = `${key} from meta.json`;
  } else if (mode === 'volume' && volumeId) {
    split = volumeSplit(volumeId, seed);
    splitNote = `seeded 70/10/20 split by volume (seed ${seed})`;
  } else {
    split = randomSplit(N, seed);
    splitNote = `seeded 70/10/20 split by image (seed ${seed})`;
  }

  const ds: SegDataset = {
    name: 'prepared',
    height: H,
    width: W,
    count: N,
    images,
    masks,
    sizes,
    split,
    source: `prepared:${dir} (${N} images ${H}×${W}; ${sizeNote}; ${splitNote})`,
  };
  if (volumeId) ds.volumeId = volumeId;
  if (sliceIndex) ds.sliceIndex = sliceIndex;
  return subsetDataset(ds, opts.count, seed);
}
