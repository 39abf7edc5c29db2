/**
 * Decision thresholds chosen from size labels alone (issue 23, remedy b).
 *
 * Evaluation thresholds the logits at 0 (σ(a) > ½). After size training that threshold and the size the network
 * learnt to produce can disagree (the loss trained sampled masks, not thresholded ones), so the threshold is
 * chosen again on the validation split: the probability t of a fixed grid whose thresholded masks have the
 * lowest mean size error E = (g(ŷ) − s)² against the validation **sizes**. The choice sees the validation logits
 * and sizes and nothing else: `chooseThreshold` has no access to any mask, so no pixel label (validation or test)
 * can move it. Ties go to the threshold nearest ½ (the default), so a network whose E is flat keeps σ > ½.
 *
 * `thresholdCurve` evaluates a threshold grid on labelled images (IoU, Dice, E, foreground fraction): for the
 * record of what the choice did on the test split, and, labelled as such, what other thresholds would have done
 * there. It never feeds a choice.
 */
import { finiteSize, objectSizeUnchecked } from '../estimators/objectSize.js';
import { diceOf, iouOf } from '../train/metrics.js';

/** Default grid: σ thresholds 0.05, 0.10, …, 0.95. */
export const THRESHOLD_GRID: readonly number[] = Array.from({ length: 19 }, (_, i) => Math.round((i + 1) * 5) / 100);

/** The logit of a probability threshold (σ(a) > t ⇔ a > logit(t)). */
export function logitOf(t: number): number {
  return Math.log(t / (1 - t));
}

/** Binary masks of logits thresholded at probability t (σ(a) > t). */
export function thresholdAt(logits: ArrayLike<number>, t: number): Uint8Array {
  const cut = logitOf(t);
  const out = new Uint8Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = (logits[i] as number) > cut ? 1 : 0;
  return out;
}

/** Mean size error E of the images' thresholded masks against target sizes (the +∞ rule of the metrics). */
export function meanSizeError(masks: Uint8Array, sizes: ArrayLike<number>, height: number, width: number): number {
  const V = height * width;
  const scratch = new Int32Array(V);
  let sum = 0;
  for (let b = 0; b < sizes.length; b++) {
    const e =
      finiteSize(sizes[b] as number, height, width) -
      finiteSize(objectSizeUnchecked(masks, b * V, height, width, scratch), height, width);
    sum += e * e;
  }
  return sizes.length ? sum / sizes.length : Number.NaN;
}

export interface ThresholdChoice {
  /** The chosen probability threshold and its logit. */
  t: number;
  logit: number;
  /** Mean validation E and foreground fraction at every grid threshold (what the choice saw, and the area it gives). */
  grid: { t: number; E: number; fg: number }[];
}

/**
 * The grid threshold with the lowest mean E on images given by their logits and target sizes only
 * (`logits`: images × H × W, in the order of `sizes`).
 */
export function chooseThreshold(
  logits: ArrayLike<number>,
  sizes: ArrayLike<number>,
  height: number,
  width: number,
  grid: readonly number[] = THRESHOLD_GRID,
): ThresholdChoice {
  if (grid.length === 0) throw new Error('chooseThreshold: the threshold grid is empty.');
  if (logits.length !== sizes.length * height * width) {
    throw new Error(
      `chooseThreshold: ${sizes.length} sizes of ${height}×${width} images need ${sizes.length * height * width} logits, got ${logits.length}.`,
    );
  }
  const rows = grid.map((t) => {
    const masks = thresholdAt(logits, t);
    let fg = 0;
    for (let i = 0; i < masks.length; i++) fg += masks[i]!;
    return { t, E: meanSizeError(masks, sizes, height, width), fg: fg / Math.max(1, masks.length) };
  });
  let best = rows[0]!;
  for (const r of rows) {
    if (r.E < best.E || (r.E === best.E && Math.abs(r.t - 0.5) < Math.abs(best.t - 0.5))) best = r;
  }
  return { t: best.t, logit: logitOf(best.t), grid: rows };
}

export interface CurvePoint {
  t: number;
  iou: number;
  dice: number;
  E: number;
  fg: number;
}

/** IoU, Dice, E (means over images) and the foreground fraction at each threshold, against masks and sizes. */
export function thresholdCurve(
  logits: ArrayLike<number>,
  truth: Uint8Array,
  sizes: ArrayLike<number>,
  height: number,
  width: number,
  grid: readonly number[],
): CurvePoint[] {
  const V = height * width;
  return grid.map((t) => {
    const pred = thresholdAt(logits, t);
    let iou = 0;
    let dice = 0;
    let fg = 0;
    for (let b = 0; b < sizes.length; b++) {
      iou += iouOf(truth, pred, b * V, V);
      dice += diceOf(truth, pred, b * V, V);
    }
    for (let i = 0; i < pred.length; i++) fg += pred[i]!;
    const n = Math.max(1, sizes.length);
    return {
      t,
      iou: iou / n,
      dice: dice / n,
      E: meanSizeError(pred, sizes, height, width),
      fg: fg / Math.max(1, pred.length),
    };
  });
}
