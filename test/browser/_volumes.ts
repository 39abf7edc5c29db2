/**
 * Small synthetic MSD Task04 cases for the page's tests: int16 images and uint8 label maps (0, 1, 2) of
 * 40×52×5 voxels with an ellipse on slices 1–4, gzipped like the real .nii.gz files.
 */
import { gzipSync } from 'node:zlib';
import { NIFTI_DT, encodeNifti } from '../../src/data/nifti.js';

export interface SyntheticCase {
  id: string;
  /** hippocampus_00v.nii.gz */
  name: string;
  image: Uint8Array;
  label: Uint8Array;
}

export function syntheticCase(v: number): SyntheticCase {
  const [I, J, K] = [40, 52, 5];
  const img = new Int16Array(I * J * K);
  const lab = new Uint8Array(I * J * K);
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < J; j++) {
      for (let i = 0; i < I; i++) {
        const n = i + I * (j + J * k);
        const inside = k > 0 && ((i - 20) / (6 + (v % 4))) ** 2 + ((j - 26) / 9) ** 2 < 1;
        lab[n] = inside ? 1 + (i % 2) : 0;
        img[n] = 100 + (inside ? 300 : 0) + ((i * 7 + j * 13 + k * 29 + v) % 50);
      }
    }
  }
  const id = `hippocampus_${String(v).padStart(3, '0')}`;
  return {
    id,
    name: `${id}.nii.gz`,
    image: gzipSync(encodeNifti(img, [I, J, K], { datatype: NIFTI_DT.INT16 })),
    label: gzipSync(encodeNifti(lab, [I, J, K], { datatype: NIFTI_DT.UINT8 })),
  };
}

/** The first half of a file: a download or copy cut short. */
export const truncated = (bytes: Uint8Array): Uint8Array => bytes.subarray(0, bytes.length >> 1);
