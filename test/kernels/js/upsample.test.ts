import { describe, expect, it } from 'vitest';
import { upsampleNearest2xBackward, upsampleNearest2xForward } from '../../../src/kernels/js/index.js';
import type { Shape4 } from '../../../src/kernels/js/index.js';
import { makeRng } from '../../_helpers/random.js';

describe('upsampleNearest2x', () => {
  const shapes: Shape4[] = [
    [1, 1, 1, 1],
    [2, 3, 4, 5],
    [1, 2, 3, 1],
    [3, 1, 6, 4],
  ];
  for (const f32 of [false, true]) {
    it(`${f32 ? 'float32' : 'float64'} forward / backward match loops`, () => {
      const rng = makeRng(2);
      for (const shape of shapes) {
        const [N, C, H, W] = shape;
        const x = f32 ? new Float32Array(N * C * H * W) : new Float64Array(N * C * H * W);
        for (let i = 0; i < x.length; i++) x[i] = rng() * 2 - 1;
        const { out, outShape } = upsampleNearest2xForward(x, shape);
        expect(outShape).toEqual([N, C, 2 * H, 2 * W]);
        expect(out instanceof Float32Array).toBe(f32);
        const dy = f32 ? new Float32Array(out.length) : new Float64Array(out.length);
        for (let i = 0; i < dy.length; i++) dy[i] = rng() * 2 - 1;
        const dx = upsampleNearest2xBackward(dy, shape);
        expect(dx.length).toBe(x.length);
        expect(dx instanceof Float32Array).toBe(f32);
        for (let n = 0; n < N; n++) {
          for (let c = 0; c < C; c++) {
            for (let i = 0; i < 2 * H; i++) {
              for (let j = 0; j < 2 * W; j++) {
                expect(out[((n * C + c) * 2 * H + i) * 2 * W + j]).toBe(x[((n * C + c) * H + (i >> 1)) * W + (j >> 1)]);
              }
            }
            for (let i = 0; i < H; i++) {
              for (let j = 0; j < W; j++) {
                let s = 0;
                for (let a = 0; a < 2; a++)
                  for (let b = 0; b < 2; b++) s += dy[((n * C + c) * 2 * H + 2 * i + a) * 2 * W + 2 * j + b]!;
                expect(dx[((n * C + c) * H + i) * W + j]!).toBeCloseTo(s, f32 ? 5 : 12);
              }
            }
          }
        }
      }
    });
  }

  it('backward is the adjoint of forward (⟨up(x), dy⟩ = ⟨x, up^T(dy)⟩)', () => {
    const rng = makeRng(8);
    const shape: Shape4 = [2, 3, 5, 7];
    const x = new Float64Array(210).map(() => rng() - 0.5);
    const dy = new Float64Array(840).map(() => rng() - 0.5);
    const { out } = upsampleNearest2xForward(x, shape);
    const dx = upsampleNearest2xBackward(dy, shape);
    let l = 0;
    let r = 0;
    for (let i = 0; i < out.length; i++) l += out[i]! * dy[i]!;
    for (let i = 0; i < x.length; i++) r += x[i]! * dx[i]!;
    expect(Math.abs(l - r)).toBeLessThan(1e-12);
  });

  it('rejects mismatched sizes', () => {
    expect(() => upsampleNearest2xForward(new Float32Array(5), [1, 1, 2, 2])).toThrow();
    expect(() => upsampleNearest2xBackward(new Float32Array(15), [1, 1, 2, 2])).toThrow();
  });
});
