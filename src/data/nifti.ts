/**
 * NIfTI-1 files in Node: the byte decoder of niftiBytes.ts plus gunzip (zlib) and file reading.
 * Voxel order, supported datatypes and scaling: see niftiBytes.ts.
 */
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { decodeNiftiBytes, isGzip, type NiftiVolume } from './niftiBytes.js';

export * from './niftiBytes.js';

/** Decode a NIfTI-1 file from bytes; gzip is detected by its magic bytes (1f 8b), not by the file name. */
export function decodeNifti(input: Uint8Array, what = 'NIfTI data'): NiftiVolume {
  let bytes = input;
  if (isGzip(input)) {
    try {
      bytes = gunzipSync(input);
    } catch (e) {
      throw new Error(`${what}: corrupt or truncated gzip stream (${(e as Error).message}).`);
    }
  }
  return decodeNiftiBytes(bytes, what);
}

/** Read a `.nii` or `.nii.gz` file. */
export function readNifti(path: string): NiftiVolume {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new Error(`NIfTI file ${path}: cannot read (${(e as Error).message}).`);
  }
  return decodeNifti(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength), `NIfTI file ${path}`);
}
