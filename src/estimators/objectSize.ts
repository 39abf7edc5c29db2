/**
 * Object size g (paper eqs. 4–5) and the size loss l (eq. 7), including THE one place where +∞ is made finite.
 *
 * g(y) = 2·max_i d_i with d the Chebyshev distance transform (see distanceTransform.ts):
 * 0 for an all-background mask, +Infinity for a mask with no background pixel.
 *
 * ## The +∞ rule (used by every estimator, by exactSizeLoss and by the loss)
 *
 * An all-foreground mask has no background pixel inside the image and, because pixels outside the image
 * are not background, its distance transform is +∞ and so is g. A loss (s − ∞)² = ∞ would turn every
 * Lemma-1 difference that involves it into ±∞ or NaN. We therefore use, inside the loss only,
 *
 *     ĝ(y) = g(y)                  if y has a background pixel,
 *     ĝ(y) = 2·max(H, W)           if y is all foreground.
 *
 * Why this value: `max d ≥ k` iff the (clipped) square of radius k−1 around some pixel is all foreground,
 * i.e. d_c = #{k ≥ 1 : S(c, k−1) ∩ image ⊆ foreground}. For k = max(H, W) the square S(c, k−1) already
 * covers the whole image from any c, so counting only k ≤ max(H, W) caps d at max(H, W). Every mask with a
 * background pixel has d ≤ max(H, W) − 1 (the farthest pixel from a background pixel is at most
 * max(H, W) − 1 away), so the cap changes nothing except the all-foreground mask, which gets
 * 2·max(H, W) — two more than the largest finite size. Consequences: ĝ is finite, it is still monotone
 * (adding foreground never lowers it), it only touches the single all-foreground configuration, and it
 * agrees with the multilinear "count of nested foreground squares" form that the straight-through baseline
 * differentiates. `objectSize` itself still reports +Infinity (the honest value of eq. 5).
 */
import { DT_INF, maxDistanceUnchecked, validateMask } from './distanceTransform.js';

/** Object size g = 2·max d: 0 for all-background, +Infinity when the mask has no background pixel. */
export function objectSize(mask: Uint8Array, height: number, width: number): number {
  validateMask('objectSize', mask, height, width);
  return objectSizeUnchecked(mask, 0, height, width);
}

/** Unchecked g of the mask at `mask[offset …]`; `scratch` (length ≥ V) avoids an allocation. */
export function objectSizeUnchecked(
  mask: Uint8Array,
  offset: number,
  height: number,
  width: number,
  scratch?: Int32Array,
): number {
  const maxD = maxDistanceUnchecked(mask, offset, height, width, scratch);
  return maxD >= DT_INF ? Infinity : 2 * maxD;
}

/** The finite size used by the loss when g = +∞ (all-foreground): 2·max(H, W). See the module comment. */
export function allForegroundSize(height: number, width: number): number {
  return 2 * Math.max(height, width);
}

/** ĝ: g with +∞ replaced by `allForegroundSize(height, width)`. The single place the +∞ rule lives. */
export function finiteSize(size: number, height: number, width: number): number {
  return size === Infinity ? allForegroundSize(height, width) : size;
}

/**
 * Size loss l(s, ĝ) = (s − ĝ)² with the +∞ rule applied (paper eq. 7). Every estimator, `exactSizeLoss` and
 * `sizeLossForwardBackward` evaluate losses through this function, so identical sizes give bit-identical losses.
 */
export function sizeLoss(targetSize: number, size: number, height: number, width: number): number {
  const e = targetSize - finiteSize(size, height, width);
  return e * e;
}

/**
 * Throws unless the target size is a finite number ≥ 0: g = 2·max d is never negative, so a negative target
 * is a mistake (e.g. a difference or a standardised value passed as a size), refused like NaN.
 */
export function validateTargetSize(fn: string, targetSize: number, what = 'targetSize'): void {
  if (typeof targetSize !== 'number' || !Number.isFinite(targetSize) || targetSize < 0) {
    throw new Error(
      `${fn}: ${what} must be a finite number ≥ 0 (the object size s in pixels), got ${String(targetSize)}. ` +
        `Pass e.g. the annotated size 2·max d of the ground-truth mask.`,
    );
  }
}
