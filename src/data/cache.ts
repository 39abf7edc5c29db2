/**
 * The download cache: which public datasets `sizeseg data download` knows, where their copies live, and
 * whether a copy is complete. Layout under the cache folder (`cacheRoot()`):
 *
 *     downloads/Task04_Hippocampus.tar         the verified archive (kept, so a re-unpack needs no network)
 *     downloads/Task04_Hippocampus.tar.part    an interrupted download (resumed; never read as data)
 *     msd-task04/Task04_Hippocampus/…          the unpacked dataset (what `--data msd` loads)
 *     msd-task04/sizeseg-download.json         written last, inside the temporary folder before the rename:
 *                                              a folder without it is not a complete copy
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** A dataset that `sizeseg data download NAME` can fetch. */
export interface DatasetSource {
  name: string;
  /** What it is, in a few words. */
  title: string;
  /** Default download address. */
  url: string;
  /** Published MD5 of the archive at `url`. */
  md5: string;
  /** File name of the archive in `downloads/`. */
  archive: string;
  /** Top-level folder inside the archive. */
  folder: string;
  /** Paths below `folder` to unpack: a name ending in `/` means the files directly in that folder. */
  keep: readonly string[];
  /** The `--data` spec that loads the cached copy. */
  spec: string;
  license: string;
  citation: string;
}

export const DATASET_SOURCES: Readonly<Record<string, DatasetSource>> = {
  'msd-task04': {
    name: 'msd-task04',
    title: 'Medical Segmentation Decathlon, Task04 Hippocampus (260 labelled MRI volumes)',
    // the address and checksum MONAI's DecathlonDataset uses
    url: 'https://msd-for-monai.s3-us-west-2.amazonaws.com/Task04_Hippocampus.tar',
    md5: '9d24dba78a72977dbd1d2e110310f31b',
    archive: 'Task04_Hippocampus.tar',
    folder: 'Task04_Hippocampus',
    keep: ['imagesTr/', 'labelsTr/', 'dataset.json'],
    spec: 'msd',
    license: 'CC-BY-SA 4.0',
    citation: 'Simpson et al. 2019 (arXiv:1902.09063); Antonelli et al. 2022 (Nature Communications 13:4128)',
  },
};

/** The marker file of a complete copy, written last. */
export const COMPLETE_MARKER = 'sizeseg-download.json';

/** What the marker records. */
export interface CompleteMarker {
  dataset: string;
  md5: string;
  source: string;
  files: number;
  bytes: number;
  unpackedAt: string;
}

/**
 * The cache folder: `$SIZESEG_HOME` if set, else `$XDG_CACHE_HOME/sizeseg`, else `~/.cache/sizeseg`
 * (relative values are taken from the current folder).
 */
export function cacheRoot(env: Record<string, string | undefined> = process.env): string {
  if (env.SIZESEG_HOME) return resolve(env.SIZESEG_HOME);
  if (env.XDG_CACHE_HOME) return resolve(env.XDG_CACHE_HOME, 'sizeseg');
  return join(homedir(), '.cache', 'sizeseg');
}

/** Which of the three rules chose the cache folder (for `data list`). */
export function cacheRootOrigin(env: Record<string, string | undefined> = process.env): string {
  if (env.SIZESEG_HOME) return '$SIZESEG_HOME';
  if (env.XDG_CACHE_HOME) return '$XDG_CACHE_HOME/sizeseg';
  return 'default; set SIZESEG_HOME to move it';
}

/** The dataset entry for `name`, or a one-line error listing the known names. */
export function datasetSource(name: string): DatasetSource {
  const source = DATASET_SOURCES[name];
  if (!source) {
    throw new Error(
      `unknown dataset '${name}'; known: ${Object.keys(DATASET_SOURCES).join(', ')} (e.g. sizeseg data download msd-task04).`,
    );
  }
  return source;
}

/** Where the pieces of one dataset live in the cache. */
export interface DatasetPaths {
  root: string;
  /** The archive once verified. */
  archive: string;
  /** The archive while downloading. */
  part: string;
  /** The folder renamed into place when unpacking is complete. */
  installed: string;
  /** The dataset folder to load (`installed/<folder>`). */
  data: string;
  marker: string;
}

export function datasetPaths(name: string, root: string = cacheRoot()): DatasetPaths {
  const source = datasetSource(name);
  const archive = join(root, 'downloads', source.archive);
  const installed = join(root, source.name);
  return {
    root,
    archive,
    part: `${archive}.part`,
    installed,
    data: join(installed, source.folder),
    marker: join(installed, COMPLETE_MARKER),
  };
}

/** The marker of a complete copy, or undefined when there is none (or it is unreadable). */
export function readCompleteMarker(name: string, root: string = cacheRoot()): CompleteMarker | undefined {
  const { marker, data } = datasetPaths(name, root);
  if (!existsSync(marker) || !existsSync(data)) return undefined;
  try {
    return JSON.parse(readFileSync(marker, 'utf8')) as CompleteMarker;
  } catch {
    return undefined;
  }
}

/** The folder of a complete cached copy of `name`, or undefined. */
export function cachedDatasetPath(name: string, root: string = cacheRoot()): string | undefined {
  return readCompleteMarker(name, root) ? datasetPaths(name, root).data : undefined;
}

/** Like `cachedDatasetPath`, but a missing copy is a one-line error that names the download command. */
export function requireCachedDataset(name: string, root: string = cacheRoot()): string {
  const path = cachedDatasetPath(name, root);
  if (path === undefined) {
    throw new Error(
      `no downloaded copy of ${name} in ${root}; run 'npx sizeseg data download ${name}' first ` +
        `(or pass a folder, e.g. --data msd:DIR).`,
    );
  }
  return path;
}

/** Total bytes and file count of a folder tree (0 for a missing path). */
export function folderSize(path: string): { bytes: number; files: number } {
  if (!existsSync(path)) return { bytes: 0, files: 0 };
  const st = statSync(path);
  if (!st.isDirectory()) return { bytes: st.size, files: 1 };
  let bytes = 0;
  let files = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const sub = folderSize(join(path, entry.name));
    bytes += sub.bytes;
    files += sub.files;
  }
  return { bytes, files };
}

/** One line of `sizeseg data list`. */
export interface CacheEntry {
  name: string;
  title: string;
  /** `ready` (complete copy), `partial` (an interrupted download or an archive not yet unpacked), `absent`. */
  state: 'ready' | 'partial' | 'absent';
  /** Folder to load when ready. */
  path: string;
  /** Bytes and files of the unpacked copy. */
  bytes: number;
  files: number;
  /** Size of the kept archive, and of an interrupted download, if any. */
  archiveBytes: number | undefined;
  partBytes: number | undefined;
  license: string;
}

/** The state of every known dataset in the cache. */
export function listCache(root: string = cacheRoot()): CacheEntry[] {
  return Object.values(DATASET_SOURCES).map((source) => {
    const paths = datasetPaths(source.name, root);
    const ready = readCompleteMarker(source.name, root) !== undefined;
    const size = ready ? folderSize(paths.installed) : { bytes: 0, files: 0 };
    const archiveBytes = existsSync(paths.archive) ? statSync(paths.archive).size : undefined;
    const partBytes = existsSync(paths.part) ? statSync(paths.part).size : undefined;
    return {
      name: source.name,
      title: source.title,
      state: ready ? 'ready' : archiveBytes !== undefined || partBytes !== undefined ? 'partial' : 'absent',
      path: paths.data,
      bytes: size.bytes,
      files: size.files,
      archiveBytes,
      partBytes,
      license: source.license,
    };
  });
}

/** `1234567` → `1.2 MB` (decimal units, as download tools print them). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}
