/**
 * The joint objective of size training: every step, BCE on a batch of the m pixel-annotated images + λ·(size loss)
 * on a batch of size-labelled images. The BCE term holds the pixels that the size label says nothing about (those
 * away from the largest inscribed square; docs/results.md, "Size training that never hurts") where the masks put
 * them, so the masks do not shrink at large m.
 *
 * This file holds what both `sizetrain` (trainer.ts) and the experiments' `jointStep` (src/experiments/objectives.ts)
 * use: the endless, resumable stream of annotated batches, the targets of a batch, and the checks of the options.
 */
import { Rng, type RngState } from '../autograd/rng.js';
import { Tensor } from '../autograd/tensor.js';
import { makeBatch, type Batch, type SegDataset } from '../data/dataset.js';

/**
 * λ of the joint objective when none is given: the remedies study's value (Fig. 7's, fixed before any run, not
 * tuned). With it the size term (a squared size error, tens of pixels² early on) and the pixel BCE (≈ 0.1–0.7) are
 * of the same order, so neither drowns the other.
 */
export const DEFAULT_JOINT_LAMBDA = 1e-3;

/** `sizetrain`'s `joint` option. */
export interface JointOptions {
  /** Indices of the pixel-annotated images (BCE on their masks, with random flips). */
  annotated: readonly number[];
  /** Weight of the size loss against the BCE (default `DEFAULT_JOINT_LAMBDA`, 1e-3). */
  lambda?: number;
}

/** Targets of a batch as a [B,1,H,W] float tensor (for BCE). */
export function maskTensor(b: Batch): Tensor {
  const t = new Float32Array(b.masks.length);
  for (let i = 0; i < t.length; i++) t[i] = b.masks[i] as number;
  return new Tensor(t, [b.batch, 1, b.height, b.width]);
}

/** The state of an `AnnotatedBatches` stream between two steps (JSON-safe; saved with a phase checkpoint). */
export interface AnnotatedBatchesState {
  rng: RngState;
  flip: RngState;
  /** The current pass's shuffled order and the position of the next batch in it (null: start a new pass). */
  order: number[] | null;
  pos: number;
}

/**
 * An endless stream of shuffled, flipped batches of the annotated images (for the joint objective): each pass
 * shuffles the set anew and yields full batches (a short tail is dropped). Its state can be saved and restored
 * between steps, so a resumed joint phase sees the same batches as an uninterrupted one.
 */
export class AnnotatedBatches {
  private rng: Rng;
  private flip: Rng;
  private order: number[] | null = null;
  private pos = 0;
  private readonly size: number;

  constructor(
    private readonly ds: SegDataset,
    private readonly annotated: readonly number[],
    batch: number,
    rng: Rng,
    state?: AnnotatedBatchesState,
  ) {
    this.size = Math.min(batch, annotated.length);
    if (this.size < 1) throw new Error('annotated batches: no annotated images.');
    if (state) {
      this.rng = Rng.fromState(state.rng);
      this.flip = Rng.fromState(state.flip);
      this.order = state.order ? [...state.order] : null;
      this.pos = state.pos;
    } else {
      this.rng = rng;
      this.flip = rng.fork();
    }
  }

  next(): Batch {
    if (this.order === null || this.pos + this.size > this.order.length) {
      this.order = this.rng.shuffle([...this.annotated]);
      this.pos = 0;
    }
    const b = makeBatch(this.ds, this.order.slice(this.pos, this.pos + this.size), { flip: this.flip });
    this.pos += this.size;
    return b;
  }

  getState(): AnnotatedBatchesState {
    return {
      rng: this.rng.getState(),
      flip: this.flip.getState(),
      order: this.order ? [...this.order] : null,
      pos: this.pos,
    };
  }
}

/**
 * The checked joint options: λ (default 1e-3) and the annotated indices. Refuses an empty set, indices that are
 * not images of `ds`, repeated indices, annotated validation images (validation must stay images the network
 * never trained on), and a λ that is not a positive finite number. Annotated images that are also size-labelled
 * are allowed: a mask implies its size label, so the two terms agree on them (the study's joint arm at m = all
 * trains the size term on the whole split, the annotated images included).
 */
export function checkJointOptions(
  joint: JointOptions,
  ds: SegDataset,
  valIndices: readonly number[],
): { annotated: readonly number[]; lambda: number } {
  const lambda = joint.lambda ?? DEFAULT_JOINT_LAMBDA;
  if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda <= 0)
    throw new Error(
      `sizetrain: joint.lambda must be a positive finite number, got ${String(lambda)} (the default, ${DEFAULT_JOINT_LAMBDA}, is the remedies study's).`,
    );
  const { annotated } = joint;
  if (!Array.isArray(annotated) || annotated.length === 0)
    throw new Error(
      'sizetrain: joint.annotated is empty; the joint objective needs the indices of the pixel-annotated images (e.g. the `annotated` you pre-trained on), or leave out `joint` for plain size training.',
    );
  const bad = annotated.find((n) => !Number.isInteger(n) || n < 0 || n >= ds.count);
  if (bad !== undefined)
    throw new Error(
      `sizetrain: joint.annotated holds ${String(bad)}, which is not an image of the dataset (indices 0 to ${ds.count - 1}).`,
    );
  if (new Set(annotated).size !== annotated.length)
    throw new Error('sizetrain: joint.annotated lists an image more than once; pass each annotated image once.');
  const val = new Set(valIndices);
  const leaked = annotated.find((n) => val.has(n));
  if (leaked !== undefined)
    throw new Error(
      `sizetrain: joint.annotated holds image ${leaked}, a validation image; validation images choose the epoch and must not be trained on — take the annotated images from the training split.`,
    );
  return { annotated, lambda };
}

/**
 * The images of the size term when `annotated` is given BCE: the training images without masks, as in the remedies
 * study; all of them when every training image is annotated (m = all).
 */
export function sizeTermImages(train: readonly number[], annotated: readonly number[]): number[] {
  const masked = new Set(annotated);
  const rest = train.filter((n) => !masked.has(n));
  return rest.length > 0 ? rest : [...train];
}
