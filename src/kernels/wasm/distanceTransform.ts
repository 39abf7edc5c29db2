/**
 * The Chebyshev distance transform of a batch of masks on WebAssembly SIMD: four masks at a time, one per
 * i32x4 lane. The algorithm is the scalar kernel's (src/estimators/distanceTransform.ts: two raster passes
 * over a copy framed by "far" values, min over the four causal neighbours, background = 0), run for four
 * images in lock step, so each lane computes exactly the scalar kernel's integers. Work items are the groups
 * of four; a batch that is not a multiple of four is padded with empty masks.
 */
import { f32, f32x4, i32, i32x4, v128, type ModuleBuilder } from './emitter.js';
import { ARGS_BYTE, heapF32, kernelModule, newKernelModule, runItems, scratch, setArgs, readHeap } from './runtime.js';

/** "Far" (as in the scalar kernel): distances are < height + width, far below it. */
const FAR = 1 << 24;

interface DtSpec { H: number; W: number }

function buildModule(s: DtSpec): ModuleBuilder {
  const m = newKernelModule();
  const P = s.W + 2;
  const V = s.H * s.W;
  const cell = 16; // one i32x4 per framed pixel
  // args (bytes): [0] masks (4 per group, V bytes each), [4] frames (one per group), [8] out (float32, V per mask)
  m.itemFunction('group', (f, args, g) => {
    const frame = f.local('i32', 'frame'), masks = f.local('i32', 'masks'), out = f.local('i32', 'out');
    const r = f.local('i32', 'r'), c = f.local('i32', 'c'), at = f.local('i32', 'at'), pm = f.local('i32', 'pm');
    const far = f.local('v128', 'far'), one = f.local('v128', 'one'), inf = f.local('v128', 'inf');
    const near = f.local('v128', 'near'), d = f.local('v128', 'd'), df = f.local('v128', 'df');
    f.set(frame, i32.add(i32.load(args!, 4), i32.mul(g!, i32.const((s.H + 2) * P * cell))));
    f.set(masks, i32.add(i32.load(args!, 0), i32.mul(g!, i32.const(4 * V))));
    f.set(out, i32.add(i32.load(args!, 8), i32.mul(g!, i32.const(4 * V * 4))));
    f.set(far, i32x4.splat(i32.const(FAR)));
    f.set(one, i32x4.splat(i32.const(1)));
    f.set(inf, f32x4.splat(f32.const(Infinity)));
    // the frame: first and last rows, first and last column of every row
    f.forRange(c, 0, P, 1, () => {
      f.set(at, i32.add(frame, i32.mul(c, i32.const(cell))));
      f.do(v128.store(at, far));
      f.do(v128.store(at, far, (s.H + 1) * P * cell));
    });
    f.forRange(r, 1, s.H + 1, 1, () => {
      f.set(at, i32.add(frame, i32.mul(r, i32.const(P * cell))));
      f.do(v128.store(at, far));
      f.do(v128.store(at, far, (s.W + 1) * cell));
    });
    // forward pass: left, up-left, up, up-right; background (mask 0) → 0
    f.forRange(r, 1, s.H + 1, 1, () => {
      f.set(at, i32.add(frame, i32.mul(r, i32.const(P * cell))));
      f.set(pm, i32.add(masks, i32.mul(i32.sub(r, i32.const(1)), i32.const(s.W))));
      f.forRange(c, 0, s.W, 1, () => {
        f.set(at, i32.add(at, i32.const(cell)));
        // the four masks' bits as lanes of 0 / all-ones
        const bits = i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(
          i32x4.splat(i32.load8_u(pm)), 1, i32.load8_u(pm, V)), 2, i32.load8_u(pm, 2 * V)), 3, i32.load8_u(pm, 3 * V));
        f.set(near, i32x4.min_s(i32x4.min_s(v128.load(i32.sub(at, i32.const(cell))), v128.load(i32.sub(at, i32.const((P + 1) * cell)))),
          i32x4.min_s(v128.load(i32.sub(at, i32.const(P * cell))), v128.load(i32.sub(at, i32.const((P - 1) * cell))))));
        f.do(v128.store(at, v128.and(i32x4.add(near, one), i32x4.neg(bits))));
        f.set(pm, i32.add(pm, i32.const(1)));
      });
    });
    // backward pass: right, down-left, down, down-right; then the float output (far → +∞)
    f.forRange(r, 0, s.H, 1, () => {
      // row H − r of the frame, from its last pixel back
      f.set(at, i32.add(frame, i32.sub(i32.const((s.H * P + s.W + 1) * cell), i32.mul(r, i32.const(P * cell)))));
      f.set(pm, i32.add(out, i32.sub(i32.const(((s.H - 1) * s.W + s.W) * 4), i32.mul(r, i32.const(s.W * 4)))));
      f.forRange(c, 0, s.W, 1, () => {
        f.set(at, i32.sub(at, i32.const(cell)));
        f.set(pm, i32.sub(pm, i32.const(4)));
        f.set(near, i32x4.min_s(i32x4.min_s(v128.load(at, cell), v128.load(at, (P - 1) * cell)),
          i32x4.min_s(v128.load(at, P * cell), v128.load(at, (P + 1) * cell))));
        f.set(d, i32x4.min_s(v128.load(at), i32x4.add(near, one)));
        f.do(v128.store(at, d));
        f.set(df, v128.bitselect(inf, f32x4.convert_i32x4_s(d), i32x4.ge_s(d, far)));
        for (let k = 0; k < 4; k++) f.do(f32.store(pm, f32x4.extract_lane(df, k), k * V * 4));
      });
    });
  });
  return m;
}

/**
 * Distance transforms of `batch` masks (H×W bytes each, back to back) as float32 (+∞ where a mask has no
 * background), the contract of chebyshevDistanceTransformBatch; the masks are assumed checked (0/1).
 */
export function distanceTransformBatchWasm(masks: Uint8Array, batch: number, H: number, W: number): Float32Array {
  const V = H * W;
  const groups = Math.ceil(batch / 4);
  scratch.reset();
  const masksB = scratch.alloc(Math.ceil((groups * 4 * V) / 4));
  const framesB = scratch.alloc(groups * (H + 2) * (W + 2) * 4);
  const outB = scratch.alloc(groups * 4 * V);
  const bytes = new Uint8Array(heapF32().buffer, masksB, groups * 4 * V);
  bytes.set(masks.subarray(0, batch * V));
  bytes.fill(0, batch * V);
  setArgs([masksB, framesB, outB]);
  runItems(kernelModule(`dt:${H},${W}`, () => buildModule({ H, W })), 'group', ARGS_BYTE, groups, 1);
  return readHeap(outB, batch * V);
}
