/**
 * Chebyshev (chessboard) distance transform, paper eq. (3).
 *
 *   d_i = min over background pixels j of max(|r_i − r_j|, |c_i − c_j|)
 *
 * Conventions (see shared/method.md):
 * - masks are 0/1 `Uint8Array`s, row-major, `height` rows × `width` columns; 1 = foreground;
 * - background pixels get 0;
 * - pixels OUTSIDE the image are NOT background (SciPy `distance_transform_cdt(metric='chessboard')`
 *   semantics, and the authors' `chdt` extension);
 * - a mask with no background pixel gets +Infinity everywhere.
 *
 * Algorithm: the classic two-pass chamfer sweep with the 8-neighbour structuring element (all weights 1).
 * The forward raster pass propagates from the up-left, up, up-right and left neighbours, the backward pass
 * from the right, down-left, down and down-right neighbours. For the chessboard metric this two-pass sweep
 * is exact (Rosenfeld & Pfaltz 1966): every shortest 8-connected path to the nearest background pixel can
 * be split into a part that the forward mask handles and a part the backward mask handles. Θ(V) per image.
 */

/** Sentinel used by the integer kernels for "no background reachable" (+∞). Larger than any real distance. */
import { cpuKernels } from '../kernels/wasm/index.js';
import { distanceTransformBatchWasm } from '../kernels/wasm/distanceTransform.js';

export const DT_INF = 0x3fffffff;

/** Throws unless `height`/`width` are positive integers. */
export function validateShape(fn: string, height: number, width: number): void {
  if (!Number.isInteger(height) || height <= 0 || !Number.isInteger(width) || width <= 0) {
    throw new Error(
      `${fn}: height and width must be positive integers, got height=${height}, width=${width}. ` +
        `Pass the image size in pixels, e.g. (mask, 48, 32).`,
    );
  }
}

/** Throws unless `mask` is a 0/1 Uint8Array of length `count·height·width`. */
export function validateMask(fn: string, mask: unknown, height: number, width: number, count = 1, what = 'mask'): void {
  validateShape(fn, height, width);
  if (!(mask instanceof Uint8Array)) {
    throw new Error(`${fn}: ${what} must be a Uint8Array of 0/1 values (row-major), got ${describe(mask)}. ` +
      `Convert it, e.g. Uint8Array.from(values, v => (v ? 1 : 0)).`);
  }
  const expected = count * height * width;
  if (mask.length !== expected) {
    const shape = count === 1 ? `${height}×${width}` : `${count}×${height}×${width}`;
    throw new Error(`${fn}: ${what} has length ${mask.length} but a ${shape} input needs ${expected} pixels. ` +
      `Check the height/width arguments or the ${what} buffer.`);
  }
  // fast check, four bytes at a time (any bit above the lowest of a byte means a value > 1) …
  // (a Uint32Array view needs a byte offset that is a multiple of 4, even with length 0: a mask that is a
  // subarray at another offset, e.g. sample k of a batch of 3×3 masks, is checked byte by byte)
  const words = (mask.byteOffset & 3) === 0 ? mask.length >> 2 : 0;
  const w32 = words > 0 ? new Uint32Array(mask.buffer, mask.byteOffset, words) : new Uint32Array(0);
  let bits = 0;
  for (let i = 0; i < words; i++) bits |= w32[i]!;
  for (let i = words * 4; i < mask.length; i++) bits |= mask[i]!;
  if ((bits & 0xfefefefe) === 0) return;
  // … and the offending value for the message
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i] as number;
    if (v > 1) {
      throw new Error(`${fn}: ${what} values must be 0 (background) or 1 (foreground), found ${v} at index ${i}. ` +
        `Threshold the input first, e.g. mask[i] = value > 0 ? 1 : 0.`);
    }
  }
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return (x as object).constructor?.name ?? 'object';
}

/**
 * Unchecked integer kernel: writes the distance transform of the `height×width` mask starting at
 * `mask[offset]` into `out[outOffset …]` (DT_INF = no background) and returns the maximum distance
 * (0 for an all-background mask, DT_INF when there is no background).
 */
export function dtKernel(
  mask: Uint8Array,
  offset: number,
  height: number,
  width: number,
  out: Int32Array,
  outOffset = 0,
): number {
  const maxD = dtFramed(mask, offset, height, width);
  const buf = framed;
  const P = width + 2;
  for (let r = 1; r <= height; r++) {
    const o = outOffset + (r - 1) * width - 1 - r * P;
    for (let i = r * P + 1, e = r * P + width; i <= e; i++) {
      const d = buf[i]!;
      out[o + i] = d >= FAR ? DT_INF : d;
    }
  }
  return maxD;
}

/** min(a, b) of int32 values without a branch (the sign of a − b selects; |a − b| < 2^31 here). */
function imin(a: number, b: number): number {
  return b ^ ((a ^ b) & ((a - b) >> 31));
}

/**
 * The distance transform into the framed scratch `framed` ((height+2) × (width+2), image at (1, 1)):
 * the classic two raster passes (Rosenfeld & Pfaltz 1966) over a copy framed by "far" values. Pixels
 * outside the image are not background, so the frame never lowers a distance, and the inner loops need
 * no bounds checks and no data-dependent branch: background is a multiplication by the mask bit, in the
 * second pass min(0, …) keeps it at 0, and min is bitwise (a mispredicted compare on noisy masks cost
 * 2× here). Distances are < height + width, far below FAR, so FAR + k stays below 2^30 (V8's
 * small-integer range, which keeps the loops on integer arithmetic). Returns the maximum (DT_INF when
 * there is no background).
 */
function dtFramed(mask: Uint8Array, offset: number, height: number, width: number): number {
  const P = width + 2;
  const buf = framedScratch((height + 2) * P);
  buf.fill(FAR, 0, P);
  buf.fill(FAR, (height + 1) * P, (height + 2) * P);
  // Forward pass: left, up-left, up, up-right.
  for (let r = 1; r <= height; r++) {
    const row = r * P;
    buf[row] = FAR;
    buf[row + width + 1] = FAR;
    const m = offset + (r - 1) * width - 1 - row;
    for (let i = row + 1, e = row + width; i <= e; i++) {
      const near = imin(imin(buf[i - 1]!, buf[i - P - 1]!), imin(buf[i - P]!, buf[i - P + 1]!));
      buf[i] = mask[m + i]! * (near + 1);
    }
  }
  // Backward pass: right, down-left, down, down-right; the maximum on the way.
  let maxD = 0;
  for (let r = height; r >= 1; r--) {
    const row = r * P;
    for (let i = row + width; i > row; i--) {
      const near = imin(imin(buf[i + 1]!, buf[i + P - 1]!), imin(buf[i + P]!, buf[i + P + 1]!));
      const d = imin(buf[i]!, near + 1);
      buf[i] = d;
      maxD = maxD ^ ((maxD ^ d) & ((maxD - d) >> 31)); // max(maxD, d)
    }
  }
  return maxD >= FAR ? DT_INF : maxD;
}

/** "Far" for the framed kernel (see dtKernel). */
const FAR = 1 << 24;
let framed = new Int32Array(0);
function framedScratch(n: number): Int32Array {
  if (framed.length < n) framed = new Int32Array(n);
  return framed;
}

/** Maximum of the distance transform without keeping it (unchecked); DT_INF when there is no background. */
export function maxDistanceUnchecked(mask: Uint8Array, offset: number, height: number, width: number, scratch?: Int32Array): number {
  const V = height * width;
  const buf = scratch !== undefined && scratch.length >= V ? scratch : new Int32Array(V);
  return dtKernel(mask, offset, height, width, buf, 0);
}

function toFloat(src: Int32Array, dst: Float32Array, offset: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = src[i] as number;
    dst[offset + i] = v >= DT_INF ? Infinity : v;
  }
}

/**
 * Chebyshev distance transform of one `height×width` 0/1 mask. Background → 0, foreground → distance to the
 * nearest background pixel inside the image (outside is not background); +Infinity everywhere when the mask
 * has no background pixel.
 */
export function chebyshevDistanceTransform(mask: Uint8Array, height: number, width: number): Float32Array {
  validateMask('chebyshevDistanceTransform', mask, height, width);
  const V = height * width;
  const tmp = new Int32Array(V);
  dtKernel(mask, 0, height, width, tmp, 0);
  const out = new Float32Array(V);
  toFloat(tmp, out, 0, V);
  return out;
}

/** Distance transform of `batch` independent masks stored back to back (`batch×height×width`). */
export function chebyshevDistanceTransformBatch(masks: Uint8Array, batch: number, height: number, width: number): Float32Array {
  if (!Number.isInteger(batch) || batch <= 0) {
    throw new Error(`chebyshevDistanceTransformBatch: batch must be a positive integer, got ${batch}. ` +
      `Pass the number of masks stored back to back in the buffer.`);
  }
  validateMask('chebyshevDistanceTransformBatch', masks, height, width, batch, 'masks');
  // four masks at a time in SIMD lanes, the same integers as the loop below (src/kernels/wasm/distanceTransform.ts)
  if (batch >= 2 && cpuKernels() === 'wasm') return distanceTransformBatchWasm(masks, batch, height, width);
  const V = height * width;
  const P = width + 2;
  const out = new Float32Array(batch * V);
  for (let b = 0; b < batch; b++) {
    dtFramed(masks, b * V, height, width);
    const buf = framed;
    for (let r = 1; r <= height; r++) {
      const o = b * V + (r - 1) * width - 1 - r * P;
      for (let i = r * P + 1, e = r * P + width; i <= e; i++) {
        const d = buf[i]!;
        out[o + i] = d >= FAR ? Infinity : d;
      }
    }
  }
  return out;
}
