import ndarray from 'ndarray';
import { describe, expect, it } from 'vitest';
import {
  Rng,
  arange,
  fromNdarray,
  full,
  ones,
  rand,
  randLogistic,
  randn,
  tensor,
  toNdarray,
  zeros,
} from '../../src/autograd/index.js';

describe('tensor creation', () => {
  it('infers shapes from nested arrays and keeps float32 by default, float64 on request', () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.strides).toEqual([3, 1]);
    expect(t.toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const d = tensor([0.1, 0.2], undefined, { dtype: 'float64' });
    expect(d.dataSync()).toBeInstanceOf(Float64Array);
    expect(d.dataSync()[0]).toBe(0.1);
    expect(tensor(3).shape).toEqual([]);
    expect(tensor(3).item()).toBe(3);
  });

  it('uses a typed array of the right dtype without copying', () => {
    const buf = new Float32Array([1, 2, 3, 4]);
    const t = tensor(buf, [2, 2]);
    buf[0] = 9;
    expect(t.dataSync()[0]).toBe(9);
    expect(() => tensor(buf, [3])).toThrow(/4 values do not fill shape \[3\]/);
  });

  it('zeros, ones, full, arange', () => {
    expect(Array.from(zeros([2]).dataSync())).toEqual([0, 0]);
    expect(Array.from(ones([1, 2]).dataSync())).toEqual([1, 1]);
    expect(Array.from(full([3], 7).dataSync())).toEqual([7, 7, 7]);
    expect(Array.from(arange(5).dataSync())).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(arange(1, 2, 0.25).dataSync())).toEqual([1, 1.25, 1.5, 1.75]);
    expect(() => zeros([2, -1])).toThrow(/invalid shape/);
  });

  it('random tensors need a seeded Rng and are reproducible', () => {
    const a = randn([3, 4], new Rng(5));
    const b = randn([3, 4], new Rng(5));
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(
      rand([100], new Rng(1))
        .dataSync()
        .every((u) => u >= 0 && u < 1),
    ).toBe(true);
    expect(randLogistic([10], new Rng(1)).shape).toEqual([10]);
    // @ts-expect-error a missing generator is a clear error, never Math.random
    expect(() => randn([2])).toThrow(/seeded generator/);
  });
});

describe('views share storage', () => {
  it('transpose, slice and reshape of a contiguous tensor are views; contiguous() copies only when needed', () => {
    const t = arange(12).reshape(3, 4);
    const tt = t.transpose();
    expect(tt.storage).toBe(t.storage);
    expect(tt.isContiguous).toBe(false);
    expect(tt.toArray()).toEqual([
      [0, 4, 8],
      [1, 5, 9],
      [2, 6, 10],
      [3, 7, 11],
    ]);
    const s = t.slice(1, 1, 4, 2);
    expect(s.storage).toBe(t.storage);
    expect(s.toArray()).toEqual([
      [1, 3],
      [5, 7],
      [9, 11],
    ]);
    expect(t.reshape(2, 6).storage).toBe(t.storage);
    expect(t.contiguous()).toBe(t);
    const c = tt.contiguous();
    expect(c.storage).not.toBe(t.storage);
    expect(Array.from(c.dataSync())).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    // reshape of a non-contiguous view copies (and is still right)
    expect(tt.reshape(12).toArray()).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  });

  it('ndarray interop shares memory both ways', () => {
    const t = arange(6).reshape(2, 3);
    const nd = toNdarray(t);
    expect(nd.get(1, 2)).toBe(5);
    nd.set(0, 0, 42);
    expect(t.dataSync()[0]).toBe(42);
    const tr = toNdarray(t.transpose());
    expect(tr.get(2, 1)).toBe(5);
    const arr = ndarray(new Float64Array([1, 2, 3, 4]), [2, 2]);
    const back = fromNdarray(arr);
    expect(back.dtype).toBe('float64');
    arr.set(1, 1, 9);
    expect(back.toArray()).toEqual([
      [1, 2],
      [3, 9],
    ]);
    const fromPlain = fromNdarray(ndarray([1, 2, 3, 4, 5, 6], [3, 2]));
    expect(fromPlain.toArray()).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
  });

  it('async data() returns the values', async () => {
    expect(Array.from(await arange(3).data())).toEqual([0, 1, 2]);
  });
});
