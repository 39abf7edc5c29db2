/**
 * The optimisers refuse a non-finite gradient (a diverged loss) before they touch any weight, and name the
 * parameter and the value: NaN, +∞ and −∞, anywhere in the array (first, middle, last element), for Adam and SGD.
 */
import { describe, expect, it } from 'vitest';
import { Adam, SGD, tensor } from '../../src/index.js';

describe('optimisers and non-finite gradients', () => {
  type Param = ReturnType<typeof tensor>;
  const optimisers: [string, (p: Param) => Adam | SGD][] = [
    ['Adam', (p) => new Adam([p], { lr: 0.1 })],
    ['SGD', (p) => new SGD([p], { lr: 0.1 })],
  ];
  for (const [name, make] of optimisers) {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (const at of [0, 500, 999]) {
        it(`${name}: ${bad} at element ${at} of 1000`, () => {
          const w = tensor(
            Float32Array.from({ length: 1000 }, (_, i) => i / 1000),
            [1000],
            { requiresGrad: true },
          );
          w.name = 'w';
          const before = Float32Array.from(w.values());
          const opt = make(w);
          const g = new Float32Array(1000).fill(0.5);
          g[at] = bad;
          w.grad = tensor(g, [1000]);
          expect(() => opt.step()).toThrow(
            new RegExp(`gradient of w contains ${String(bad).replace('+', '')}; the loss diverged`),
          );
          expect(Float32Array.from(w.values())).toEqual(before);
        });
      }
    }
  }
  it('steps when every gradient is finite (the check lets ordinary values through, ±0 and the largest floats included)', () => {
    const w = tensor(new Float32Array([1, 2, 3, 4]), [4], { requiresGrad: true });
    const opt = new SGD([w], { lr: 1 });
    w.grad = tensor(new Float32Array([0, -0, 3.4e38, -3.4e38]), [4]);
    opt.step();
    expect(Array.from(w.values())).toEqual([1, 2, 3 - 3.4e38, 4 + 3.4e38].map((v) => Math.fround(v)));
  });
});
