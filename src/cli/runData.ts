/**
 * The data a command runs on, and its record in checkpoints.
 *
 * A training command records in every checkpoint what it was trained on (`CheckpointData`,
 * src/train/checkpointBytes.ts): the loader's inputs (spec, seed, count, split mode), which rebuild the
 * same images and split, and the fingerprints of the images the network learned from (src/data/fingerprint.ts).
 * `evaluate`, `predict` and `sizetrain` then use the checkpoint's data unless --data/--count/--seed say
 * otherwise, and say which they use; a validation or test split holding images the network was trained on is
 * refused, whichever data it comes from. A checkpoint without a record (written before it existed) is used
 * with the flags given, and the output says so.
 */
import type { CheckpointData } from '../train/checkpoint.js';
import { datasetDigest, fingerprintImages, packFingerprints, unpackFingerprints } from '../data/fingerprint.js';
import { indicesOf, loadDataset, type SegDataset, type SplitName } from '../data/index.js';
import { type Options, UsageError } from './options.js';
import type { Progress } from './progress.js';

/** The loader's inputs. */
export interface DataLoad {
  spec: string;
  seed: number;
  /** A seeded subset or the number of images generated; null: all (synthetic: its default 2000). */
  count: number | null;
  split?: 'volume' | 'slice';
}

/** The data a command on a checkpoint runs on, and where that choice came from. */
export interface DataChoice extends DataLoad {
  /** 'checkpoint': the checkpoint's record; 'flags': the flags (over the record, or without one). */
  from: 'checkpoint' | 'flags';
  /** One line for the output that says which data this is and why. */
  said: string;
}

/** `--count N` (a seeded subset of the data), or null for all of it. */
export function countOption(opts: Options): number | null {
  return opts.optionalString('count') === undefined ? null : opts.int('count', 1000);
}

/** The data as flags, e.g. `--data synthetic --count 1200 --seed 0`. */
export function dataFlags(load: DataLoad): string {
  return `--data ${load.spec}${load.count !== null ? ` --count ${load.count}` : ''} --seed ${load.seed}${load.split === 'slice' ? ' (split by slice)' : ''}`;
}

function recordLoad(record: CheckpointData): DataLoad {
  return {
    spec: record.spec,
    seed: record.seed,
    count: record.count ?? null,
    ...(record.split ? { split: record.split } : {}),
  };
}

const sameLoad = (a: DataLoad, b: DataLoad) =>
  a.spec === b.spec && a.seed === b.seed && a.count === b.count && (a.split ?? 'volume') === (b.split ?? 'volume');

/**
 * The data for a command on checkpoint `ckpt`: its record, with --data/--count/--seed over it. A --data other
 * than the recorded one starts from the flags' defaults (seed 0, all images): the record's count and seed
 * belong to its data.
 */
export function chooseData(opts: Options, record: CheckpointData | undefined, ckpt: string): DataChoice {
  const flags = (fallback: DataLoad): DataLoad => {
    const spec = opts.string('data', fallback.spec);
    const same = spec === fallback.spec;
    return {
      spec,
      seed: opts.has('seed') ? opts.int('seed', 0, 0) : same ? fallback.seed : 0,
      count: opts.has('count') ? countOption(opts) : same ? fallback.count : null,
      ...(same && fallback.split ? { split: fallback.split } : {}),
    };
  };
  if (!record) {
    const load = flags({ spec: 'synthetic', seed: 0, count: null });
    return {
      ...load,
      from: 'flags',
      said: `data: ${dataFlags(load)}, as the flags say: ${ckpt} does not record the data it was trained on (checkpoints of older sizeseg versions and of the experiments do not), so pass that data with --data, --count and --seed`,
    };
  }
  const recorded = recordLoad(record);
  const load = flags(recorded);
  if (sameLoad(load, recorded))
    return {
      ...recorded,
      from: 'checkpoint',
      said: `data: the checkpoint's, ${dataFlags(recorded)} (train ${record.images.train}, val ${record.images.val}, test ${record.images.test})`,
    };
  return {
    ...load,
    from: 'flags',
    said: `data: ${dataFlags(load)} as the flags say, instead of the checkpoint's ${dataFlags(recorded)}`,
  };
}

/** Load the data, and print what it is. */
export async function loadData(progress: Progress, load: DataLoad): Promise<SegDataset> {
  const ds = await loadDataset(load.spec, {
    seed: load.seed,
    ...(load.count !== null ? { count: load.count } : {}),
    ...(load.split ? { split: load.split } : {}),
  });
  progress.line(`data: ${ds.name} — ${ds.count} images ${ds.height}×${ds.width} (${splitCounts(ds)}); ${ds.source}`);
  return ds;
}

/**
 * Load the chosen data; the checkpoint's own data must come back exactly as it was (same images, same split),
 * or the numbers would not be the ones of its run.
 */
export async function loadChosenData(
  progress: Progress,
  choice: DataChoice,
  record: CheckpointData | undefined,
  ckpt: string,
): Promise<SegDataset> {
  if (choice.from === 'flags') return loadData(progress, choice);
  let ds: SegDataset;
  try {
    ds = await loadData(progress, choice);
  } catch (err) {
    throw new Error(
      `${ckpt} was trained on ${dataFlags(choice)}, which does not load here: ${(err as Error).message.replace(/\.$/, '')} — or pass other data with --data.`,
    );
  }
  if (record && datasetDigest(ds) !== record.digest) {
    throw new Error(
      `${dataFlags(choice)} no longer loads the images and split ${ckpt} was trained on (then: ${record.source}; now: ${ds.source}); to use this data anyway, pass it with --data (its training images are still refused).`,
    );
  }
  return ds;
}

export function splitCounts(ds: SegDataset): string {
  const c = (s: SplitName) => indicesOf(ds, s).length;
  return `train ${c('train')}, val ${c('val')}, test ${c('test')}`;
}

/**
 * The record of what a network was trained on: `trained` (images whose pixels or sizes were training targets)
 * and `validated` (images that chose its epochs), added to those of the checkpoint it started from — whose
 * record may be missing (`inherited` null: an older checkpoint), which the record then says.
 */
export function dataRecord(
  load: DataLoad,
  ds: SegDataset,
  trained: readonly number[],
  validated: readonly number[],
  inherited?: { record: CheckpointData | undefined; path: string },
): CheckpointData {
  const before = inherited?.record;
  const trainedSet = [
    ...fingerprintImages(ds, trained),
    ...(before ? unpackFingerprints(before.trained, inherited!.path) : []),
  ];
  const validatedSet = [
    ...fingerprintImages(ds, validated),
    ...(before ? unpackFingerprints(before.validated, inherited!.path) : []),
  ];
  const incomplete =
    inherited && !before
      ? `it started from ${inherited.path}, which does not record its data: the images that trained it before are unknown`
      : before?.incomplete;
  return {
    spec: load.spec,
    seed: load.seed,
    ...(load.count !== null ? { count: load.count } : {}),
    ...(load.split ? { split: load.split } : {}),
    source: ds.source,
    images: {
      train: indicesOf(ds, 'train').length,
      val: indicesOf(ds, 'val').length,
      test: indicesOf(ds, 'test').length,
    },
    digest: datasetDigest(ds),
    trained: packFingerprints(trainedSet),
    validated: packFingerprints(validatedSet),
    ...(incomplete ? { incomplete } : {}),
  };
}

/**
 * Refuse images of `split` that trained the checkpoint (its scores there would not be a test); returns notes
 * to print: validation images of the checkpoint among them, or an incomplete record.
 */
export function refuseTrainingImages(
  ds: SegDataset,
  indices: readonly number[],
  split: SplitName,
  record: CheckpointData | undefined,
  ckpt: string,
  choice: DataLoad,
): string[] {
  if (!record) return [];
  const notes = record.incomplete
    ? [`note: the check for images ${ckpt} was trained on is partial: ${record.incomplete}.`]
    : [];
  const fingerprints = fingerprintImages(ds, indices);
  const trained = unpackFingerprints(record.trained, ckpt);
  const seen = indices.filter((_, i) => trained.has(fingerprints[i]!));
  if (seen.length > 0) {
    throw new UsageError(
      `${seen.length} of the ${indices.length} ${split} images of ${dataFlags(choice)} are images ${ckpt} was trained on (the first: image ${seen[0]}); scores on them are no test — use the checkpoint's own data (leave out --data, --count and --seed) or data it never saw.`,
    );
  }
  const validated = unpackFingerprints(record.validated, ckpt);
  const chosenOn = indices.filter((_, i) => validated.has(fingerprints[i]!)).length;
  if (chosenOn > 0)
    notes.push(
      `note: ${chosenOn} of the ${indices.length} ${split} images are validation images of ${ckpt} (they chose its best epoch), so these scores are slightly optimistic.`,
    );
  return notes;
}
