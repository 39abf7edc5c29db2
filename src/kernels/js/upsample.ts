/** Nearest-neighbour ×2 upsampling over NCHW: out[n,c,2i+a,2j+b] = x[n,c,i,j]. */
import type { TypedArray as F } from '../types.js';
import type { Shape4 } from './conv2d.js';

function checkShape(name: string, s: readonly number[]): void {
  if (s.length !== 4 || s.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new Error(`upsampleNearest2x: ${name} must be 4 non-negative integers, got [${s.join(', ')}]`);
  }
}

/** x [N,C,H,W] → out [N,C,2H,2W] (x's dtype). */
export function upsampleNearest2xForward(x: F, xShape: Shape4): { out: F; outShape: Shape4 } {
  checkShape('xShape', xShape);
  const [N, C, H, W] = xShape;
  if (x.length !== N * C * H * W)
    throw new Error(`upsampleNearest2x: x has ${x.length} elements, shape needs ${N * C * H * W}`);
  const W2 = 2 * W;
  const out = x instanceof Float32Array ? new Float32Array(4 * x.length) : new Float64Array(4 * x.length);
  const planes = N * C;
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * H * W;
    const oo = pl * 4 * H * W;
    for (let i = 0; i < H; i++) {
      let src = xo + i * W;
      const r0 = oo + 2 * i * W2;
      let d = r0;
      for (let j = 0; j < W; j++) {
        const v = x[src]!;
        out[d] = v;
        out[d + 1] = v;
        d += 2;
        src++;
      }
      out.copyWithin(r0 + W2, r0, r0 + W2);
    }
  }
  return { out, outShape: [N, C, 2 * H, 2 * W] };
}

/**
 * Backward of upsampleNearest2xForward: dy [N,C,2H,2W] → dx [N,C,H,W] (sums of the 2×2 blocks),
 * where xShape = [N,C,H,W] is the shape of the forward input. dy's dtype.
 */
export function upsampleNearest2xBackward(dy: F, xShape: Shape4): F {
  checkShape('xShape', xShape);
  const [N, C, H, W] = xShape;
  if (dy.length !== 4 * N * C * H * W) {
    throw new Error(
      `upsampleNearest2x: dy has ${dy.length} elements, expected ${4 * N * C * H * W} for input [${xShape.join(', ')}]`,
    );
  }
  const W2 = 2 * W;
  const dx = dy instanceof Float32Array ? new Float32Array(N * C * H * W) : new Float64Array(N * C * H * W);
  const planes = N * C;
  for (let pl = 0; pl < planes; pl++) {
    const xo = pl * H * W;
    const oo = pl * 4 * H * W;
    for (let i = 0; i < H; i++) {
      let a = oo + 2 * i * W2;
      let b = a + W2;
      let d = xo + i * W;
      for (let j = 0; j < W; j++) {
        dx[d] = dy[a]! + dy[a + 1]! + dy[b]! + dy[b + 1]!;
        a += 2;
        b += 2;
        d++;
      }
    }
  }
  return dx;
}
