/**
 * The checkpoint format's pure byte functions: the small SHA-256 against node:crypto (and the FIPS 180-4
 * examples), files written by the Node wrapper decode from bytes alone, and the pure hash signs a file the
 * Node reader accepts (same bytes as with node:crypto).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, sha256Hex } from '../../src/train/checkpointBytes.js';
import { readCheckpoint, writeCheckpointFile } from '../../src/train/checkpoint.js';

const te = new TextEncoder();

describe('checkpoint bytes', () => {
  it('sha256Hex equals node:crypto on the FIPS examples and on random lengths around the block size', () => {
    expect(sha256Hex([te.encode('abc')])).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex([te.encode('')])).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    let seed = 7;
    for (const n of [1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003]) {
      const bytes = new Uint8Array(n).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
      const cut = Math.floor(n / 3);
      expect(sha256Hex([bytes.subarray(0, cut), bytes.subarray(cut)])).toBe(
        createHash('sha256').update(bytes).digest('hex'),
      );
    }
  });

  it('a file written by the Node wrapper decodes from its bytes alone, and the pure hash writes the same bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sizeseg-ckpt-'));
    const path = join(dir, 'a.ckpt');
    const info = { config: { widths: [4, 8] }, epoch: 3, phase: 'pretrain', metrics: { iou: 0.5 } };
    const entries = [
      { group: 'model', name: 'w', shape: [2, 3], values: [1, -2.5, 3, 4, 5e-8, -0] },
      { group: 'adam.m', name: 'w', shape: [2, 3], values: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] },
    ];
    writeCheckpointFile(path, info, entries);
    const bytes = new Uint8Array(readFileSync(path));
    expect(encodeCheckpoint(info, entries)).toEqual(bytes);
    const decoded = decodeCheckpoint(bytes, 'a.ckpt');
    expect([...decoded.state.get('w')!.values()]).toEqual([...Float32Array.from(entries[0]!.values)]);
    expect([...decoded.groups.get('adam.m')!.get('w')!.values()]).toEqual([...Float32Array.from(entries[1]!.values)]);
    expect(readCheckpoint(path).header.epoch).toBe(3);
    const edited = bytes.slice();
    edited[edited.length - 1] = edited[edited.length - 1]! ^ 1;
    expect(() => decodeCheckpoint(edited, 'a.ckpt')).toThrow(/do not match their sha256/);
  });

  it('the data record is an optional header key: same version, covered by the sha256, absent in older files', () => {
    const data = {
      spec: 'synthetic',
      seed: 0,
      count: 200,
      source: 'synthetic (seed 0, 200 images 48×32)',
      images: { train: 140, val: 20, test: 40 },
      digest: '0123456789abcdef',
      trained: 'AAAAAAAAAAE=',
      validated: '',
    };
    const entries = [{ group: 'model', name: 'w', shape: [2], values: [1, 2] }];
    const info = { config: { widths: [4] }, epoch: 1, phase: 'pretrain', metrics: {} };
    const bytes = encodeCheckpoint({ ...info, data }, entries);
    const decoded = decodeCheckpoint(bytes, 'r.ckpt');
    expect(decoded.header.data).toEqual(data);
    expect(decoded.header.version).toBe(2); // readers that do not know the key ignore it
    expect(decodeCheckpoint(encodeCheckpoint(info, entries), 'old.ckpt').header.data).toBeUndefined();
    // an edited record (here: count 200 → 900) is refused like edited weights
    const at = Buffer.from(bytes).indexOf('"count":200') + '"count":'.length;
    const edited = bytes.slice();
    edited[at] = '9'.charCodeAt(0);
    expect(() => decodeCheckpoint(edited, 'r.ckpt')).toThrow(/do not match their sha256/);
  });
});
