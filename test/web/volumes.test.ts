/**
 * The page's reading of MSD Task04 files (web/src/volumes.ts, niftiFiles.ts), run in Node: Node 20 has the Blob,
 * Response and DecompressionStream the training worker uses. The slices are checked against the command line's
 * path (decodeNifti with zlib, then slicesFromVolumes on all pairs at once); the page in Chromium is
 * test/browser/realData.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { volumeSplit } from '../../src/data/dataset.js';
import { slicesFromVolumes } from '../../src/data/msdSlices.js';
import { decodeNifti } from '../../src/data/nifti.js';
import { caseIdOf, roleFromPath } from '../../web/src/niftiFiles.js';
import type { NamedBytes } from '../../web/src/protocol.js';
import { datasetFromFiles, splitForPage } from '../../web/src/volumes.js';
import { syntheticCase, truncated } from '../browser/_volumes.js';

const file = (path: string, bytes: Uint8Array, role: NamedBytes['role']): NamedBytes => ({
  name: path.replace(/^.*\//, ''),
  path,
  bytes: Uint8Array.from(bytes).buffer,
  role,
});
const chosen = (cases: number[]): NamedBytes[] =>
  cases.map(syntheticCase).flatMap((c) => [file(c.name, c.image, 'image'), file(c.name, c.label, 'label')]);

/** The command line's slices of the same cases. */
function reference(cases: number[]) {
  return slicesFromVolumes(
    cases.map(syntheticCase).map((c) => ({ id: c.id, image: decodeNifti(c.image), label: decodeNifti(c.label) })),
  );
}

describe('the page reads MSD files', () => {
  it('names: case ids of .nii/.nii.gz files, folder roles', () => {
    expect(caseIdOf('imagesTr/hippocampus_001.nii.gz')).toBe('hippocampus_001');
    expect(caseIdOf('x.nii')).toBe('x');
    expect(caseIdOf('._hippocampus_001.nii.gz')).toBeNull();
    expect(caseIdOf('dataset.json')).toBeNull();
    expect(roleFromPath('Task04_Hippocampus/labelsTr/hippocampus_001.nii.gz')).toBe('label');
    expect(roleFromPath('imagesTr/hippocampus_001.nii.gz')).toBe('image');
    expect(roleFromPath('hippocampus_001.nii.gz')).toBeNull();
  });

  it('gives the slices of the command line, in id order, whatever the order of the files', async () => {
    const files = chosen([3, 1, 2]).reverse();
    const { dataset, loaded } = await datasetFromFiles(files);
    const ref = reference([1, 2, 3]);
    expect(dataset.count).toBe(ref.count);
    expect(ref.count).toBe(12);
    expect([...dataset.images]).toEqual([...ref.images]);
    expect([...dataset.masks]).toEqual([...ref.masks]);
    expect([...dataset.volumeId!]).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    expect(loaded).toMatchObject({ volumes: 3, slices: 12, notes: [] });
  });

  it('skips an image without a label (the real imagesTr has one) and says so', async () => {
    const files = chosen([1, 2, 3]);
    const lonely = syntheticCase(118);
    files.push(file(`imagesTr/${lonely.name}`, lonely.image, 'image'));
    const { loaded } = await datasetFromFiles(files);
    expect(loaded.volumes).toBe(3);
    expect(loaded.notes).toEqual([
      'skipped 1 image without a label file of the same name (as the command line does): imagesTr/hippocampus_118.nii.gz',
    ]);
  });

  it('makes every accepted set trainable: 1 to 4 volumes are split by slice with a validation slice, 5 and more by volume', async () => {
    for (const n of [1, 2, 3, 4, 5, 6, 9]) {
      const { dataset, loaded } = await datasetFromFiles(chosen(Array.from({ length: n }, (_, i) => i + 1)));
      expect(loaded.train, `${n} volumes`).toBeGreaterThan(0);
      expect(loaded.val, `${n} volumes`).toBeGreaterThan(0);
      expect(loaded.train + loaded.val).toBeLessThanOrEqual(dataset.count);
      if (n >= 5) expect([...dataset.split]).toEqual([...volumeSplit(dataset.volumeId!, 0)]);
      expect(loaded.text).toContain(n >= 5 ? '(split 70/10/20 by volume, seed 0)' : 'split by slice');
      expect(loaded.text.startsWith(n === 1 ? '1 volume → 4 slices' : `${n} volumes → ${4 * n} slices`)).toBe(true);
    }
    // the rule itself: 70/10/20 of 4 volumes leaves no validation volume
    expect(volumeSplit(Int32Array.from([1, 2, 3, 4]), 0).includes(1)).toBe(false);
    expect(splitForPage(Int32Array.from([1, 1, 1])).split).toEqual(Uint8Array.from([0, 0, 1]));
  });

  it('names a truncated image or label and says it is truncated', async () => {
    for (const which of ['image', 'label'] as const) {
      const files = chosen([1, 2, 3]);
      const c = syntheticCase(2);
      const k = files.findIndex((f) => f.name === c.name && f.role === which);
      files[k] = file(`${which}s/${c.name}`, truncated(which === 'image' ? c.image : c.label), which);
      await expect(datasetFromFiles(files)).rejects.toThrow(
        new RegExp(`^${which}s/hippocampus_002\\.nii\\.gz is truncated or damaged`),
      );
    }
  });

  it('says an image given as a label looks like an image (not "damaged"), and spots swapped inputs', async () => {
    const files = chosen([1, 2, 3]);
    const c = syntheticCase(2);
    files[files.findIndex((f) => f.name === c.name && f.role === 'label')] = file(c.name, c.image, 'label');
    const one = await datasetFromFiles(files).catch((e: Error) => e.message);
    expect(one).toMatch(
      /^hippocampus_002\.nii\.gz was given as a label but looks like an image, not a label map: it has \d+ different values/,
    );
    expect(one).not.toMatch(/damaged/);
    const swapped = chosen([1, 2, 3]).map((f) => ({
      ...f,
      role: f.role === 'image' ? ('label' as const) : ('image' as const),
    }));
    await expect(datasetFromFiles(swapped)).rejects.toThrow(/^the images and labels look swapped/);
  });

  it('sorts dropped files by folder name, else by contents', async () => {
    const cases = [1, 2, 3].map(syntheticCase);
    const byFolder = cases.flatMap((c) => [
      file(`Task04/imagesTr/${c.name}`, c.image, null),
      file(`Task04/labelsTr/${c.name}`, c.label, null),
    ]);
    byFolder.push(file('Task04/dataset.json', new TextEncoder().encode('{}'), null));
    const a = await datasetFromFiles(byFolder);
    expect(a.loaded.slices).toBe(12);
    expect(a.loaded.notes).toEqual(['ignored 1 file that is not .nii/.nii.gz: Task04/dataset.json']);
    const loose = cases.flatMap((c) => [file(c.name, c.label, null), file(c.name, c.image, null)]);
    const b = await datasetFromFiles(loose);
    expect([...b.dataset.images]).toEqual([...a.dataset.images]);
    // a labelsTr folder holding an image is refused, naming the file
    const wrong = [...byFolder.slice(0, 5), file(`Task04/labelsTr/${cases[2]!.name}`, cases[2]!.image, null)];
    await expect(datasetFromFiles(wrong)).rejects.toThrow(
      /^Task04\/labelsTr\/hippocampus_003\.nii\.gz was given as a label but looks like an image/,
    );
  });

  it('refuses empty files, repeated cases and sets without labels, naming the problem', async () => {
    const c = syntheticCase(1);
    await expect(
      datasetFromFiles([file(c.name, c.image, 'image'), file(c.name, new Uint8Array(0), 'label')]),
    ).rejects.toThrow(/^hippocampus_001\.nii\.gz is empty/);
    await expect(
      datasetFromFiles([
        file(`a/${c.name}`, c.image, 'image'),
        file(`b/${c.name}`, c.image, 'image'),
        file(c.name, c.label, 'label'),
      ]),
    ).rejects.toThrow(
      /^two image files for hippocampus_001: a\/hippocampus_001\.nii\.gz and b\/hippocampus_001\.nii\.gz/,
    );
    await expect(datasetFromFiles([file(c.name, c.image, 'image')])).rejects.toThrow(
      /^only images were given: give the files of labelsTr\/ too/,
    );
    await expect(datasetFromFiles([file('notes.txt', c.image, 'image')])).rejects.toThrow(
      /^notes\.txt is not a \.nii or \.nii\.gz file/,
    );
  });
});
