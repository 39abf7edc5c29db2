/**
 * Image fingerprints: the hash is MurmurHash3 x86-32 (two seeds), checked against its published test vectors;
 * equal images give equal fingerprints wherever they come from, different images different ones, and the
 * packed form round-trips.
 */
import { describe, expect, it } from 'vitest';
import {
  datasetDigest,
  fingerprintImages,
  fingerprintPixels,
  packFingerprints,
  unpackFingerprints,
} from '../../src/data/fingerprint.js';
import { generateSynthetic, subsetDataset, takeIndices } from '../../src/data/index.js';

/** Float32 pixels whose bytes are the given ASCII text (its length a multiple of 4). */
function pixelsOf(text: string): Float32Array {
  const bytes = new Uint8Array([...text].map((c) => c.charCodeAt(0)));
  return new Float32Array(bytes.buffer);
}

describe('image fingerprints', () => {
  it('are MurmurHash3 x86-32 of the pixel bytes: published vectors for seed 0x9747b28c', () => {
    // ("aaaa", 0x9747b28c) = 0x5a97808a and ("abcd", 0x9747b28c) = 0xf0478627 (the reference implementation's
    // vectors); the second lane (seed 0x2f6b1a53) from an independent byte-wise implementation in Python
    expect(fingerprintPixels(pixelsOf('aaaa'))).toBe('5a97808ab196ceef');
    expect(fingerprintPixels(pixelsOf('abcd'))).toBe('f04786275ec1907c');
    expect(fingerprintPixels(pixelsOf('abcdefgh'))).toBe('cf0266e48c00eecc');
  });

  it('recognise the same image in another load, order or subset, and tell different images apart', () => {
    const ds = generateSynthetic({ count: 60, seed: 4 });
    const all = fingerprintImages(ds, [...Array(60).keys()]);
    expect(new Set(all).size).toBe(60);
    // the first 60 of a larger generation are the same images (each image draws from its own forked stream)
    const more = generateSynthetic({ count: 100, seed: 4 });
    expect(fingerprintImages(more, [...Array(60).keys()])).toEqual(all);
    const subset = subsetDataset(ds, 20, 1);
    const reordered = takeIndices(ds, [7, 3, 59]);
    expect(fingerprintImages(reordered, [0, 1, 2])).toEqual([all[7], all[3], all[59]]);
    expect(fingerprintImages(subset, [...Array(20).keys()]).every((f) => all.includes(f))).toBe(true);
  });

  it('pack to sorted, deduplicated base64 and back', () => {
    const list = ['00000000000000ff', 'ffffffffffffffff', '0123456789abcdef', '0123456789abcdef'];
    const packed = packFingerprints(list);
    expect(Buffer.from(packed, 'base64').toString('hex')).toBe('00000000000000ff0123456789abcdefffffffffffffffff');
    expect([...unpackFingerprints(packed, 'x.ckpt')]).toEqual([
      '00000000000000ff',
      '0123456789abcdef',
      'ffffffffffffffff',
    ]);
    expect(() => unpackFingerprints('AAAA', 'x.ckpt')).toThrow(/x\.ckpt: the image fingerprints have 3 bytes/);
  });

  it('a digest changes with any image or split code', () => {
    const ds = generateSynthetic({ count: 30, seed: 1 });
    const digest = datasetDigest(ds);
    expect(datasetDigest(generateSynthetic({ count: 30, seed: 1 }))).toBe(digest);
    const split = { ...ds, split: Uint8Array.from(ds.split) };
    split.split[3] = (split.split[3]! + 1) % 3;
    expect(datasetDigest(split)).not.toBe(digest);
    const images = { ...ds, images: Float32Array.from(ds.images) };
    images.images[100] = images.images[100]! + 1;
    expect(datasetDigest(images)).not.toBe(digest);
  });
});
