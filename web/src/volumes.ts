/**
 * The MSD Task04 files a user chose or dropped → the training set of panel 4, in the worker: the same 48×32
 * slices as the command line's `msd:DIR` (slicesFromVolumes, volumes in id order), and the same skip rule (an image
 * without a label file is left out with a note; the real imagesTr/ has one, hippocampus_118).
 *
 * Files are sorted into images and labels by the input they were chosen in, else by their folder name (imagesTr/,
 * labelsTr/), else by their contents; a file whose contents contradict that (an image given as a label) is refused
 * with a message that says so. Each volume is decoded twice (once to sort, once to slice) so that only one pair's
 * voxels are held at a time: all 521 Task04 files decoded at once would take about 250 MB of float64.
 */
import { maskSizes, slicesFromVolumes, volumeSplit, type SegDataset } from '../../src/browser.js';
import { compareIds } from '../../src/data/msdSlices.js';
import { caseIdOf, contentsOf, decodeFile, roleFromPath } from './niftiFiles.js';
import type { NamedBytes, VolumesLoaded } from './protocol.js';
import { plural } from './words.js';

/** The slices of the given files, their split and what was left out; throws with a message naming the file. */
export async function datasetFromFiles(
  files: NamedBytes[],
  progress: (text: string) => void = () => {},
): Promise<{ dataset: SegDataset; loaded: VolumesLoaded }> {
  const notes: string[] = [];
  const nifti = files.filter((f) => caseIdOf(f.name) !== null);
  const others = files.filter((f) => caseIdOf(f.name) === null);
  if (nifti.length === 0)
    throw new Error(
      `${files.length === 1 ? `${files[0]!.path} is not` : `none of the ${files.length} files is`} a .nii or .nii.gz file; give the files of imagesTr/ and labelsTr/.`,
    );
  if (others.length)
    notes.push(
      `ignored ${plural(others.length, 'file')} that ${others.length === 1 ? 'is' : 'are'} not .nii/.nii.gz: ${listNames(others.map((f) => f.path))}`,
    );

  // 1. sort: the role each file was given (input or folder), checked against its contents
  const images = new Map<string, NamedBytes>();
  const labels = new Map<string, NamedBytes>();
  const given = { imageAsLabel: 0, labelAsImage: 0, image: 0, label: 0 };
  let firstContradiction = '';
  for (const [k, f] of nifti.entries()) {
    progress(`checking file ${k + 1} of ${nifti.length}…`);
    const contents = contentsOf(await decodeFile(f));
    const claimed = f.role ?? roleFromPath(f.path);
    // unclaimed: few distinct values make a label map (a damaged one is refused later, by slicesFromVolumes)
    const role: 'image' | 'label' = claimed ?? (contents.image ? 'image' : 'label');
    if (claimed === 'label' && contents.image) {
      given.imageAsLabel++;
      firstContradiction ||= `${f.path} was given as a label but looks like an image, not a label map: it has ${contents.summary} (a Task04 label map has only 0, 1 and 2). Give the file of the same name from labelsTr/ instead.`;
    } else if (claimed === 'image' && contents.labelMap) {
      given.labelAsImage++;
      firstContradiction ||= `${f.path} was given as an image but looks like a label map (${contents.summary}). Give the file of the same name from imagesTr/ instead.`;
    }
    if (claimed) given[claimed]++;
    const into = role === 'image' ? images : labels;
    const id = caseIdOf(f.name) as string;
    const twin = into.get(id);
    if (twin) throw new Error(`two ${role} files for ${id}: ${twin.path} and ${f.path}; give each case once.`);
    into.set(id, f);
  }
  if (given.label > 0 && given.image > 0 && given.imageAsLabel === given.label && given.labelAsImage === given.image) {
    throw new Error(
      `the images and labels look swapped: the ${plural(given.label, 'file')} given as labels hold images and the ${plural(given.image, 'file')} given as images hold label maps. Give the files of imagesTr/ as images and those of labelsTr/ as labels.`,
    );
  }
  if (firstContradiction) throw new Error(firstContradiction);

  // 2. pair by case id; unpaired files are skipped with a note, as `loadMsd` skips an image without a label
  const ids = [...images.keys()].filter((id) => labels.has(id)).sort(compareIds);
  const lonelyImages = [...images.keys()].filter((id) => !labels.has(id)).sort(compareIds);
  const lonelyLabels = [...labels.keys()].filter((id) => !images.has(id)).sort(compareIds);
  if (lonelyImages.length)
    notes.push(
      `skipped ${plural(lonelyImages.length, 'image')} without a label file of the same name (as the command line does): ${listNames(lonelyImages.map((id) => images.get(id)!.path))}`,
    );
  if (lonelyLabels.length)
    notes.push(
      `skipped ${plural(lonelyLabels.length, 'label file')} without an image of the same name: ${listNames(lonelyLabels.map((id) => labels.get(id)!.path))}`,
    );
  if (ids.length === 0) {
    throw new Error(
      images.size === 0
        ? 'only label maps were given: give the files of imagesTr/ too.'
        : labels.size === 0
          ? 'only images were given: give the files of labelsTr/ too.'
          : `no image has a label file of the same name (images: ${listNames([...images.keys()])}; labels: ${listNames([...labels.keys()])}).`,
    );
  }

  // 3. slice one pair at a time, in id order (the slices of a volume depend on that volume alone)
  const parts: ReturnType<typeof slicesFromVolumes>[] = [];
  for (const [k, id] of ids.entries()) {
    progress(`slicing volume ${k + 1} of ${ids.length}…`);
    const image = images.get(id)!;
    const label = labels.get(id)!;
    parts.push(
      slicesFromVolumes([
        {
          id,
          image: await decodeFile(image),
          label: await decodeFile(label),
          imageName: image.path,
          labelName: label.path,
        },
      ]),
    );
  }
  const s = concatSlices(parts);
  if (s.count < 3)
    throw new Error(
      `only ${plural(s.count, 'slice')} of ${plural(ids.length, 'volume')} show the hippocampus (a slice needs 16 of its 48×32 pixels on it); give more volumes.`,
    );
  const { split, by } = splitForPage(s.volumeId);
  const train = split.filter((c) => c === 0).length;
  const val = split.filter((c) => c === 1).length;
  const how =
    by === 'volume'
      ? 'split 70/10/20 by volume, seed 0'
      : `split by slice: ${ids.length === 1 ? '1 volume is' : `${ids.length} volumes are`} too few for a split by volume with a validation volume`;
  const text = `${plural(ids.length, 'volume')} → ${plural(s.count, 'slice')}: ${train.toLocaleString('en')} for training, ${val.toLocaleString('en')} for validation (${how})`;
  const dataset: SegDataset = {
    name: 'your MRI volumes',
    height: s.height,
    width: s.width,
    count: s.count,
    images: s.images,
    masks: s.masks,
    sizes: maskSizes(s.masks, s.count, s.height, s.width),
    split,
    volumeId: s.volumeId,
    sliceIndex: s.sliceIndex,
    source: text,
  };
  return { dataset, loaded: { volumes: ids.length, slices: s.count, train, val, text, notes } };
}

/** At most a few names, then how many more. */
function listNames(names: string[], max = 5): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

function concatSlices(parts: ReturnType<typeof slicesFromVolumes>[]): {
  height: number;
  width: number;
  count: number;
  images: Float32Array;
  masks: Uint8Array;
  volumeId: Int32Array;
  sliceIndex: Int32Array;
} {
  const height = parts[0]?.height ?? 48;
  const width = parts[0]?.width ?? 32;
  const V = height * width;
  const count = parts.reduce((n, p) => n + p.count, 0);
  const out = {
    height,
    width,
    count,
    images: new Float32Array(count * V),
    masks: new Uint8Array(count * V),
    volumeId: new Int32Array(count),
    sliceIndex: new Int32Array(count),
  };
  let at = 0;
  for (const p of parts) {
    out.images.set(p.images, at * V);
    out.masks.set(p.masks, at * V);
    out.volumeId.set(p.volumeId, at);
    out.sliceIndex.set(p.sliceIndex, at);
    at += p.count;
  }
  return out;
}

/**
 * The command line's seeded 70/10/20 split by volume when it leaves training and validation slices (5 volumes or
 * more: 70/10/20 of 4 volumes rounds to 3/0/1); with fewer volumes a split by slice, every tenth slice from the
 * eighth for validation and the ninth and tenth for test, and at least one validation slice (the last).
 */
export function splitForPage(volumeId: Int32Array): { split: Uint8Array; by: 'volume' | 'slice' } {
  const byVolume = volumeSplit(volumeId, 0);
  if (byVolume.includes(0) && byVolume.includes(1)) return { split: byVolume, by: 'volume' };
  const n = volumeId.length;
  const split = Uint8Array.from({ length: n }, (_, i) => (i % 10 === 7 ? 1 : i % 10 >= 8 ? 2 : 0));
  if (!split.includes(1)) split[n - 1] = 1;
  return { split, by: 'slice' };
}
