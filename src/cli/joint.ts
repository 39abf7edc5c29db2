/**
 * `sizetrain --joint [--joint-lambda X]`: the joint objective (src/train/joint.ts) on the command line. The
 * pixel-annotated images are the ones the --checkpoint was pre-trained on, found by the fingerprints its data
 * record keeps (runData.ts), so no image list is passed by hand; the size term runs on the training images without
 * masks (all of them when every training image was annotated), as in the remedies study.
 */
import { fingerprintImages, unpackFingerprints } from '../data/fingerprint.js';
import type { SegDataset } from '../data/index.js';
import type { CheckpointHeader } from '../train/checkpoint.js';
import { DEFAULT_JOINT_LAMBDA } from '../train/joint.js';
import { type Options, UsageError } from './options.js';

/** What config.json records of a joint run: λ and the indices of the annotated images in the loaded data. */
export interface JointSetting {
  lambda: number;
  annotated: number[];
}

/** The joint flags of a new run (the annotated images are filled in once the data is loaded), or null. */
export function jointFlags(opts: Options): JointSetting | null {
  if (!opts.flag('joint')) {
    if (opts.has('joint-lambda'))
      throw new UsageError(
        `--joint-lambda sets λ of the joint objective: add --joint (e.g. --joint --joint-lambda ${DEFAULT_JOINT_LAMBDA}).`,
      );
    return null;
  }
  return { lambda: opts.number('joint-lambda', DEFAULT_JOINT_LAMBDA), annotated: [] };
}

/**
 * The training images of `ds` whose pixels pre-trained the checkpoint: those of its record's `trained` images.
 * Refused where they cannot be known: a checkpoint that was not pre-trained (its record then holds size-labelled
 * images too), one without a record, or data on which not all of its m annotated images are found.
 */
export function annotatedOfCheckpoint(
  header: CheckpointHeader,
  ds: SegDataset,
  train: readonly number[],
  ckpt: string,
): number[] {
  if (header.phase !== 'pretrain')
    throw new UsageError(
      `--joint trains BCE on the images --checkpoint was pre-trained on, but ${ckpt} comes from '${header.phase}', whose record does not tell its pixel-annotated images from its size-labelled ones; start from the pretrain run's checkpoint (runs/<pretrain run>/best.ckpt).`,
    );
  const record = header.data;
  if (!record)
    throw new UsageError(
      `--joint needs the images ${ckpt} was pre-trained on, and it does not record them (written by an older sizeseg); pre-train again with this version, or leave out --joint.`,
    );
  const trained = unpackFingerprints(record.trained, ckpt);
  const fingerprints = fingerprintImages(ds, train);
  const annotated = train.filter((_, i) => trained.has(fingerprints[i]!));
  const m = header.extra?.['m'];
  if (annotated.length === 0 || (typeof m === 'number' && annotated.length !== m)) {
    const found = typeof m === 'number' ? `${annotated.length} of the ${m}` : 'none of the';
    throw new UsageError(
      `--joint: ${found} images ${ckpt} was pre-trained on are in the training split of this data; --joint needs the data the checkpoint was pre-trained on (leave out --data, --count and --seed).`,
    );
  }
  return annotated;
}
