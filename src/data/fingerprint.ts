/**
 * Image fingerprints: a 64-bit hash of each image's pixel values, so that two loads of data can be compared
 * image by image whatever their order, subset, split or loader. A checkpoint keeps the fingerprints of the
 * images it was trained on (src/cli/checkpointData.ts), and an evaluation on other data can then tell which
 * of its images the network has already seen: the prepared folder and the MSD loader produce the same
 * slices, so even a model trained on one and evaluated on the other is checked.
 *
 * The hash is two MurmurHash3 (x86, 32-bit) lanes with different seeds over the float32 bit patterns; it is
 * not cryptographic (nobody forges a training image here), only a very unlikely collision among a few
 * thousand images matters: with 64 bits, about n²/2⁶⁵ ≈ 10⁻¹² for 6103 slices. Pure functions (no Node API).
 */
import type { SegDataset } from './dataset.js';

/** 16 lowercase hex digits per image. */
export type Fingerprint = string;

function murmur3(words: Uint32Array, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < words.length; i++) {
    let k = Math.imul(words[i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= words.length * 4;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const hex8 = (x: number) => x.toString(16).padStart(8, '0');

/** The fingerprint of one image given as float32 pixels (its bit patterns are hashed, so −0 ≠ +0). */
export function fingerprintPixels(pixels: Float32Array): Fingerprint {
  const words = new Uint32Array(pixels.buffer, pixels.byteOffset, pixels.length);
  return hex8(murmur3(words, 0x9747b28c)) + hex8(murmur3(words, 0x2f6b1a53));
}

/** The fingerprints of the given images of a dataset, in the given order. */
export function fingerprintImages(ds: SegDataset, indices: readonly number[]): Fingerprint[] {
  const V = ds.height * ds.width;
  return indices.map((n) => fingerprintPixels(ds.images.subarray(n * V, (n + 1) * V)));
}

/**
 * One fingerprint of a whole load: every image's fingerprint with its split code, in order. Equal digests
 * mean the same images in the same order with the same train/val/test split.
 */
export function datasetDigest(ds: SegDataset): Fingerprint {
  const all = fingerprintImages(
    ds,
    Array.from({ length: ds.count }, (_, i) => i),
  );
  const words = new Uint32Array(3 * ds.count + 2);
  all.forEach((f, i) => {
    words[3 * i] = parseInt(f.slice(0, 8), 16);
    words[3 * i + 1] = parseInt(f.slice(8), 16);
    words[3 * i + 2] = ds.split[i]!;
  });
  words[3 * ds.count] = ds.height;
  words[3 * ds.count + 1] = ds.width;
  return hex8(murmur3(words, 0x9747b28c)) + hex8(murmur3(words, 0x2f6b1a53));
}

/** A set of fingerprints as compact text (sorted, 8 bytes each, base64), for a JSON header. */
export function packFingerprints(fingerprints: Iterable<Fingerprint>): string {
  const sorted = [...new Set(fingerprints)].sort();
  let binary = '';
  for (const f of sorted) {
    for (let i = 0; i < 16; i += 2) binary += String.fromCharCode(parseInt(f.slice(i, i + 2), 16));
  }
  return btoa(binary);
}

/** The set packed by `packFingerprints`; `where` names the source in the error for damaged text. */
export function unpackFingerprints(packed: string, where: string): Set<Fingerprint> {
  let binary: string;
  try {
    binary = atob(packed);
  } catch {
    throw new Error(`${where}: the image fingerprints are not valid base64 (damaged record).`);
  }
  if (binary.length % 8 !== 0)
    throw new Error(
      `${where}: the image fingerprints have ${binary.length} bytes, not a multiple of 8 (damaged record).`,
    );
  const out = new Set<Fingerprint>();
  for (let at = 0; at < binary.length; at += 8) {
    let f = '';
    for (let i = 0; i < 8; i++)
      f += binary
        .charCodeAt(at + i)
        .toString(16)
        .padStart(2, '0');
    out.add(f);
  }
  return out;
}
