/**
 * One NIfTI file a user gave the page, in the training worker: gunzip it (DecompressionStream), decode it with
 * the library's reader, and tell an MRI image from a Task04 label map by its contents. Every error names the file.
 */
import { decodeNiftiBytes, isGzip, type NiftiVolume } from '../../src/browser.js';
import type { NamedBytes } from './protocol.js';

/** Case id of an MSD file name: "imagesTr/hippocampus_001.nii.gz" → "hippocampus_001"; null for other names. */
export function caseIdOf(name: string): string | null {
  const base = name.replace(/^.*[\\/]/, '');
  if (base.startsWith('.')) return null; // macOS "._hippocampus_001.nii.gz" resource forks in the MSD tarball
  const m = /^(.+)\.nii(\.gz)?$/i.exec(base);
  return m ? (m[1] as string) : null;
}

async function gunzip(bytes: ArrayBuffer, what: string): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch {
    // Chromium reports a cut-off gzip stream as "TypeError: Failed to fetch", which names neither the file nor the cause
    throw new Error(
      `${what} is truncated or damaged: its gzip stream ends early or is corrupt. ` +
        'Replace it with an intact copy from the Task04 archive, or leave out this case (image and label).',
    );
  }
}

export async function decodeFile(file: NamedBytes): Promise<NiftiVolume> {
  const raw = new Uint8Array(file.bytes);
  if (raw.byteLength === 0) throw new Error(`${file.path} is empty (0 bytes).`);
  return decodeNiftiBytes(isGzip(raw) ? await gunzip(file.bytes, file.path) : raw, file.path);
}

/** Distinct voxel values above which a volume is an image rather than a (damaged) label map. */
const IMAGE_MIN_DISTINCT = 8;

export interface Contents {
  /** Every voxel is 0, 1 or 2: a Task04 label map. */
  labelMap: boolean;
  /** More than IMAGE_MIN_DISTINCT distinct values: an intensity image. */
  image: boolean;
  /** For messages: "1,204 different values, e.g. 0.53 at voxel 17". */
  summary: string;
}

export function contentsOf(vol: NiftiVolume): Contents {
  const distinct = new Set<number>();
  let example = -1;
  for (let i = 0; i < vol.data.length && distinct.size <= 1000; i++) {
    const v = vol.data[i] as number;
    distinct.add(v);
    if (example < 0 && v !== 0 && v !== 1 && v !== 2) example = i;
  }
  const many = distinct.size > 1000 ? 'more than 1,000' : distinct.size.toLocaleString('en');
  return {
    labelMap: example < 0,
    image: distinct.size > IMAGE_MIN_DISTINCT,
    summary:
      example < 0
        ? `only the values ${[...distinct].sort((a, b) => a - b).join(', ')}`
        : `${many} different values, e.g. ${vol.data[example]} at voxel ${example}`,
  };
}

/** The role a folder name gives a dropped file: ".../labelsTr/x.nii.gz" is a label, ".../imagesTr/..." an image. */
export function roleFromPath(path: string): 'image' | 'label' | null {
  const folders = path
    .split(/[\\/]/)
    .slice(0, -1)
    .map((f) => f.toLowerCase());
  if (folders.some((f) => f.startsWith('label'))) return 'label';
  if (folders.some((f) => f.startsWith('image'))) return 'image';
  return null;
}
