/**
 * Data loading entry point: `loadDataset('synthetic' | 'prepared:DIR' | 'msd:DIR' | 'msd', opts)`; `msd` alone is
 * the copy in the download cache (cache.ts).
 */
import { requireCachedDataset } from './cache.js';
import type { LoadOptions, SegDataset } from './dataset.js';
import { loadMsd } from './msd.js';
import { loadPrepared } from './prepared.js';
import { generateSynthetic } from './synthetic.js';

export type { Batch, BatchIteratorOptions, BatchOptions, LoadOptions, SegDataset, SplitName } from './dataset.js';
export {
  SPLIT_CODE,
  batchIterator,
  indicesOf,
  makeBatch,
  randomSplit,
  selectAnnotated,
  splitCounts,
  subsetDataset,
  takeIndices,
  volumeSplit,
} from './dataset.js';
export type { MsdDataset, MsdOptions, MsdSliceOptions, MsdSlices, MsdVolumePair, VolumeStats } from './msd.js';
export { loadMsd, numpyMeanStd, pairwiseSum, slicesFromVolumes } from './msd.js';
export { loadPrepared } from './prepared.js';
export type { SyntheticOptions } from './synthetic.js';
export { SYNTHETIC_DEFAULTS, generateSynthetic } from './synthetic.js';
export type { CacheEntry, DatasetSource } from './cache.js';
export { DATASET_SOURCES, cacheRoot, cachedDatasetPath, listCache, requireCachedDataset } from './cache.js';
export type { DownloadDatasetOptions, DownloadDatasetResult, HttpOptions } from './download.js';
export {
  DownloadError,
  UnsafeArchiveError,
  downloadDataset,
  downloadFile,
  extractTar,
  md5File,
  safeEntryPath,
} from './download.js';
export type { TarEntry, TarSink } from './tar.js';
export { TarFormatError, TarReader } from './tar.js';
export type { EncodeNiftiOptions, NiftiHeader, NiftiVolume } from './nifti.js';
export { NIFTI_DT, decodeNifti, decodeNiftiBytes, encodeNifti, isGzip, parseNiftiHeader, readNifti } from './nifti.js';

export const DATASET_SPEC_HELP =
  "'synthetic' (built-in generated images), 'prepared:DIR' (a folder of images.f32 + masks.u8 + meta.json), " +
  "'msd:DIR' (MSD Task04 imagesTr/ + labelsTr/ NIfTI files) or 'msd' (the copy " +
  "'sizeseg data download msd-task04' put in the cache)";

/** Load a dataset from a spec string; see `DATASET_SPEC_HELP`. */
export async function loadDataset(spec: string, opts: LoadOptions = {}): Promise<SegDataset> {
  const s = spec.trim();
  if (s === 'synthetic' || s === '') return generateSynthetic(opts);
  const colon = s.indexOf(':');
  const kind = colon < 0 ? s : s.slice(0, colon);
  const path = colon < 0 ? '' : s.slice(colon + 1);
  if (s === 'msd') return loadMsd(requireCachedDataset('msd-task04'), opts);
  if ((kind === 'prepared' || kind === 'msd') && path === '') {
    throw new Error(
      `loadDataset: '${kind}:' needs a folder, e.g. '${kind}:data/hippocampus'; valid specs: ${DATASET_SPEC_HELP}.`,
    );
  }
  if (kind === 'prepared') return loadPrepared(path, opts);
  if (kind === 'msd') return loadMsd(path, opts);
  throw new Error(`loadDataset: unknown dataset spec ${JSON.stringify(spec)}; valid specs: ${DATASET_SPEC_HELP}.`);
}
