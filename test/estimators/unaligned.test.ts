/**
 * Masks that are subarrays at any byte offset (sample k of a batch of 3×3 masks starts at byte 9k): the
 * estimators give what they give on a copy, and still refuse values other than 0/1. (The web page's 3×3
 * example found a RangeError here: a Uint32Array view at an offset that is not a multiple of 4.)
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/rng.js';
import {
  chebyshevDistanceTransform,
  lemma1Gradient,
  objectSize,
  sampleBernoulliMasks,
} from '../../src/estimators/index.js';

describe('masks at unaligned byte offsets', () => {
  it('give the results of their copies', () => {
    const probs = [0.2, 0.5, 0.3, 0.6, 0.9, 0.7, 0.3, 0.6, 0.4];
    const ys = sampleBernoulliMasks(probs, 8, 3, 3, new Rng(7));
    for (let k = 0; k < 8; k++) {
      const view = ys.subarray(9 * k, 9 * k + 9);
      const copy = view.slice();
      expect(objectSize(view, 3, 3)).toBe(objectSize(copy, 3, 3));
      expect([...chebyshevDistanceTransform(view, 3, 3)]).toEqual([...chebyshevDistanceTransform(copy, 3, 3)]);
      expect([...lemma1Gradient(view, 3, 3, 4)]).toEqual([...lemma1Gradient(copy, 3, 3, 4)]);
    }
  });

  it('still refuse a value other than 0 or 1', () => {
    const buf = new Uint8Array(12);
    buf[5] = 2;
    expect(() => objectSize(buf.subarray(1, 10), 3, 3)).toThrow(/values must be 0 \(background\) or 1/);
  });
});
