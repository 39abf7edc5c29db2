/**
 * Nearest-neighbour ×2 upsampling (NCHW) on WebAssembly SIMD, float32; bit-identical to the JavaScript
 * kernels in ../cpu/upsample.ts: the forward pass is a copy, and the backward sums each 2×2 block of dy in
 * float64 in the reference's order, ((dy[2i,2j] + dy[2i,2j+1]) + dy[2i+1,2j]) + dy[2i+1,2j+1], rounded once.
 * Work items: fixed groups of planes.
 */
import { f32, f64, f64x2, i32, v128, type Expr, type FunctionBuilder, type Local, type ModuleBuilder } from './emitter.js';
import { ARGS_BYTE, kernelModule, memoryPassThreads, newKernelModule, runItems, scratch, setArgs } from './runtime.js';
import { kernelInput, kernelOutput } from './arena.js';

const PLANES_PER_ITEM = 8;

interface UpSpec { planes: number; H: number; W: number }

function buildModule(s: UpSpec): ModuleBuilder {
  const m = newKernelModule();
  const W2 = 2 * s.W;
  const loop = (f: FunctionBuilder, args: Local, item: Local, body: (src: Local, dst: Local, j: Local) => void, srcRow: number, dstRow: number, srcPlane: number, dstPlane: number) => {
    const src = f.local('i32', 'src'), dst = f.local('i32', 'dst'), p = f.local('i32', 'p'), r = f.local('i32', 'r'), j = f.local('i32', 'j');
    const last = f.local('i32', 'last');
    f.set(p, i32.mul(item, i32.const(PLANES_PER_ITEM)));
    f.set(last, i32.add(p, i32.const(PLANES_PER_ITEM)));
    f.if(i32.gt_s(last, i32.const(s.planes)), () => f.set(last, i32.const(s.planes)));
    f.set(src, i32.add(i32.load(args, 0), i32.mul(p, i32.const(srcPlane * 4))));
    f.set(dst, i32.add(i32.load(args, 4), i32.mul(p, i32.const(dstPlane * 4))));
    f.forRange(p, p, last, 1, () => {
      f.forRange(r, 0, s.H, 1, () => {
        body(src, dst, j);
        f.set(src, i32.add(src, i32.const(srcRow * 4)));
        f.set(dst, i32.add(dst, i32.const(dstRow * 4)));
      });
    });
  };

  // forward: input row → two output rows; backward: two dy rows → one dx row
  m.itemFunction('forward', (f, args, item) => {
    const row = upsampleRow(f, s.W);
    loop(f, args!, item!, row, s.W, 2 * W2, s.H * s.W, 4 * s.H * s.W);
  });
  m.itemFunction('backward', (f, args, item) => {
    const row = blockSumRow(f, s.W);
    loop(f, args!, item!, row, 2 * W2, s.W, 4 * s.H * s.W, s.H * s.W);
  });
  return m;
}

/**
 * The forward's row: `row(src, dst, j)` writes input row `src` ([a b …], W floats) to output rows `dst` and
 * `dst` + 2W floats as [a a b b …]. `j` is a scratch local. (Also the fused upsample + concat, upsampleConcat.ts.)
 */
export function upsampleRow(f: FunctionBuilder, W: number): (src: Local, dst: Local, j: Local) => void {
  const v = f.local('v128', 'v');
  const W2 = 2 * W;
  return (src, dst, j) => {
    f.forRange(j, 0, (W >> 1) * 8, 8, () => {
      f.set(v, v128.shuffle32(v128.load64_zero(i32.add(src, j)), v128.zero(), [0, 0, 1, 1]));
      const at = i32.add(dst, i32.shl(j, i32.const(1)));
      f.do(v128.store(at, v));
      f.do(v128.store(at, v, W2 * 4));
    });
    if (W & 1) {
      const x = f.local('f32', 'x');
      f.set(x, f32.load(src, (W - 1) * 4));
      for (const o of [0, 1, W2, W2 + 1]) f.do(f32.store(dst, x, (2 * (W - 1) + o) * 4));
    }
  };
}

/**
 * The backward's row: `row(src, dst, j)` sums the 2×2 blocks of dy rows `src` and `src` + 2W floats into dx
 * row `dst` (W floats), two outputs per step in f64x2 lanes, rounded once. `j` is a scratch local.
 */
export function blockSumRow(f: FunctionBuilder, W: number): (src: Local, dst: Local, j: Local) => void {
  const top = f.local('v128', 'top'), bot = f.local('v128', 'bot'), sum = f.local('v128', 'sum');
  const even = (v: Expr) => f64x2.promote_low_f32x4(v128.shuffle32(v, v, [0, 2, 0, 2]));
  const odd = (v: Expr) => f64x2.promote_low_f32x4(v128.shuffle32(v, v, [1, 3, 1, 3]));
  const W2 = 2 * W;
  return (src, dst, j) => {
    f.forRange(j, 0, (W >> 1) * 8, 8, () => {
      const at = i32.add(src, i32.shl(j, i32.const(1)));
      f.set(top, v128.load(at));
      f.set(bot, v128.load(at, W2 * 4));
      f.set(sum, f64x2.add(f64x2.add(f64x2.add(even(top), odd(top)), even(bot)), odd(bot)));
      f.do(v128.store64_lane0(i32.add(dst, j), f64x2.demote_to_f32x4_zero(sum)));
    });
    if (W & 1) {
      const o = 2 * (W - 1) * 4;
      const p = (k: number) => f64.promote(f32.load(src, o + k * 4));
      f.do(f32.store(dst, f32.demote(f64.add(f64.add(f64.add(p(0), p(1)), p(W2)), p(W2 + 1))), (W - 1) * 4));
    }
  };
}

function run(fn: 'forward' | 'backward', s: UpSpec, src: Float32Array, outLen: number): Float32Array {
  scratch.reset();
  const dst = kernelOutput(outLen);
  const srcB = kernelInput(src);
  setArgs([srcB, dst.byte]);
  const items = Math.ceil(s.planes / PLANES_PER_ITEM);
  runItems(kernelModule(`up:${s.planes},${s.H},${s.W}`, () => buildModule(s)), fn, ARGS_BYTE, items, memoryPassThreads(4 * s.planes * s.H * s.W));
  return dst.result();
}

/** x [planes][H][W] → [planes][2H][2W]. */
export function upsampleNearest2xForwardWasm(x: Float32Array, planes: number, H: number, W: number): Float32Array {
  return run('forward', { planes, H, W }, x, 4 * planes * H * W);
}

/** dy [planes][2H][2W] → dx [planes][H][W] (2×2 block sums). */
export function upsampleNearest2xBackwardWasm(dy: Float32Array, planes: number, H: number, W: number): Float32Array {
  return run('backward', { planes, H, W }, dy, planes * H * W);
}
