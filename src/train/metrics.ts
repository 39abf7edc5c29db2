/**
 * Segmentation metrics of method.md (eqs. 22–23): size error E = (g(y) − g(ŷ))² with ŷ = [a > 0],
 * IoU and Dice of the foreground. Both-empty masks count as a perfect match (IoU = Dice = 1): there is
 * nothing to find and nothing was found.
 */
import { finiteSize, objectSize } from '../estimators/index.js';

export interface SegMetrics {
  /** Mean size error E over images (with the +∞ rule for all-foreground predictions). */
  sizeError: number;
  iou: number;
  dice: number;
  count: number;
}

/** Threshold logits at 0 (σ(a) > ½): the deterministic prediction ŷ = sign(a). */
export function thresholdLogits(logits: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = (logits[i] as number) > 0 ? 1 : 0;
  return out;
}

export function iouOf(truth: Uint8Array, pred: Uint8Array, offset = 0, length = truth.length): number {
  let inter = 0,
    union = 0;
  for (let i = offset; i < offset + length; i++) {
    const t = truth[i] as number,
      p = pred[i] as number;
    inter += t & p;
    union += t | p;
  }
  return union === 0 ? 1 : inter / union;
}

export function diceOf(truth: Uint8Array, pred: Uint8Array, offset = 0, length = truth.length): number {
  let inter = 0,
    total = 0;
  for (let i = offset; i < offset + length; i++) {
    inter += (truth[i] as number) & (pred[i] as number);
    total += (truth[i] as number) + (pred[i] as number);
  }
  return total === 0 ? 1 : (2 * inter) / total;
}

/** Size error of one prediction against a target size, using the finite size rule of the estimators. */
export function sizeErrorOf(targetSize: number, pred: Uint8Array, height: number, width: number): number {
  const e = finiteSize(targetSize, height, width) - finiteSize(objectSize(pred, height, width), height, width);
  return e * e;
}

/** Accumulates per-image metrics over batches. */
export class MetricAccumulator {
  private e = 0;
  private iou = 0;
  private dice = 0;
  private n = 0;

  add(truth: Uint8Array, pred: Uint8Array, targetSizes: ArrayLike<number>, height: number, width: number): void {
    const V = height * width;
    const B = targetSizes.length;
    if (truth.length !== B * V || pred.length !== B * V) {
      throw new Error(
        `MetricAccumulator.add: ${B} images of ${height}×${width} need ${B * V} pixels, got ${truth.length} (truth) and ${pred.length} (pred).`,
      );
    }
    for (let b = 0; b < B; b++) {
      const off = b * V;
      this.iou += iouOf(truth, pred, off, V);
      this.dice += diceOf(truth, pred, off, V);
      this.e += sizeErrorOf(targetSizes[b] as number, pred.subarray(off, off + V), height, width);
      this.n++;
    }
  }

  result(): SegMetrics {
    const n = Math.max(1, this.n);
    return { sizeError: this.e / n, iou: this.iou / n, dice: this.dice / n, count: this.n };
  }
}

/** logit of the mean foreground fraction of the given images' masks: the prior for ResUNet's headBias. */
export function foregroundPriorLogit(masks: Uint8Array, indices: readonly number[], pixels: number): number {
  let fg = 0;
  for (const n of indices) for (let i = n * pixels; i < (n + 1) * pixels; i++) fg += masks[i] as number;
  const f = Math.min(1 - 1e-3, Math.max(1e-3, fg / Math.max(1, indices.length * pixels)));
  return Math.log(f / (1 - f));
}
