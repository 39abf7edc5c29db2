/**
 * A U-Net decoder's input, concat([upsampleNearest2x(deep), skip], channels), as one pass on WebAssembly
 * SIMD, float32 — and its backward, the 2×2 block sums of the gradient's first channels and a copy of the
 * rest, as one pass. Composed, the upsampled tensor is written, read back by the concatenation, and the
 * gradient's two channel ranges are copied out before the upsampling's backward reads one of them: here
 * each element is read and written once. Bit-identical to the composition: the forward is a copy, and
 * the block sums are upsample.ts's rows (float64, the reference's order, rounded once).
 *
 *   forward   deep [N,Cd,H,W], skip [N,Cs,2H,2W] → out [N,Cd+Cs,2H,2W]
 *   backward  dy [N,Cd+Cs,2H,2W] → dDeep [N,Cd,H,W], dSkip [N,Cs,2H,2W]
 *
 * Work items: images. One thread, like the upsampling (memory-bound; a hand-off costs more than it saves).
 */
import { f32, i32, v128, type FunctionBuilder, type Local, type ModuleBuilder } from './emitter.js';
import { ARGS_BYTE, kernelModule, memoryPassThreads, newKernelModule, runItems, scratch, setArgs } from './runtime.js';
import { kernelInput, kernelOutput } from './arena.js';
import { blockSumRow, upsampleRow } from './upsample.js';

export interface UpsampleConcatSpec {
  N: number;
  /** channels of the deep (upsampled) input and of the skip input */
  Cd: number;
  Cs: number;
  /** the deep input's height and width (the output's are twice) */
  H: number;
  W: number;
}

/** dst[0 … floats) = src[0 … floats), byte pointers, vectors then the scalar tail. */
function copy(f: FunctionBuilder, dst: Local, src: Local, floats: number): void {
  const i = f.local('i32', 'i');
  const vecBytes = (floats >> 2) * 16;
  f.forRange(i, 0, vecBytes, 16, () => f.do(v128.store(i32.add(dst, i), v128.load(i32.add(src, i)))));
  for (let k = vecBytes; k < floats * 4; k += 4) f.do(f32.store(dst, f32.load(src, k), k));
}

/** Args (byte offsets): forward [0] deep, [1] skip, [2] out; backward [0] dy, [1] dDeep, [2] dSkip. */
function buildModule(s: UpsampleConcatSpec): ModuleBuilder {
  const m = newKernelModule();
  const plane = s.H * s.W, big = 4 * plane;
  const rows = s.Cd * s.H; // the deep channels' rows of one image, one after another in both layouts
  const imageBytes = { deep: s.Cd * plane * 4, skip: s.Cs * big * 4, cat: (s.Cd + s.Cs) * big * 4 };

  m.itemFunction('forward', (f, args, n) => {
    const src = f.local('i32', 'src'), dst = f.local('i32', 'dst'), skip = f.local('i32', 'skip');
    const r = f.local('i32', 'r'), j = f.local('i32', 'j');
    const row = upsampleRow(f, s.W);
    f.set(src, i32.add(i32.load(args!, 0), i32.mul(n!, i32.const(imageBytes.deep))));
    f.set(skip, i32.add(i32.load(args!, 4), i32.mul(n!, i32.const(imageBytes.skip))));
    f.set(dst, i32.add(i32.load(args!, 8), i32.mul(n!, i32.const(imageBytes.cat))));
    f.forRange(r, 0, rows, 1, () => {
      row(src, dst, j);
      f.set(src, i32.add(src, i32.const(s.W * 4)));
      f.set(dst, i32.add(dst, i32.const(4 * s.W * 4)));
    });
    // dst now points at the image's skip channels
    copy(f, dst, skip, s.Cs * big);
  });

  m.itemFunction('backward', (f, args, n) => {
    const src = f.local('i32', 'src'), dst = f.local('i32', 'dst'), dSkip = f.local('i32', 'dSkip');
    const r = f.local('i32', 'r'), j = f.local('i32', 'j');
    const row = blockSumRow(f, s.W);
    f.set(src, i32.add(i32.load(args!, 0), i32.mul(n!, i32.const(imageBytes.cat))));
    f.set(dst, i32.add(i32.load(args!, 4), i32.mul(n!, i32.const(imageBytes.deep))));
    f.set(dSkip, i32.add(i32.load(args!, 8), i32.mul(n!, i32.const(imageBytes.skip))));
    f.forRange(r, 0, rows, 1, () => {
      row(src, dst, j);
      f.set(src, i32.add(src, i32.const(4 * s.W * 4)));
      f.set(dst, i32.add(dst, i32.const(s.W * 4)));
    });
    // src now points at the image's skip channels of dy
    copy(f, dSkip, src, s.Cs * big);
  });
  return m;
}

const moduleFor = (s: UpsampleConcatSpec) =>
  kernelModule(`upcat:${s.N},${s.Cd},${s.Cs},${s.H},${s.W}`, () => buildModule(s));

function check(s: UpsampleConcatSpec): void {
  if (Object.values(s).some((v) => !Number.isInteger(v) || v < 0))
    throw new Error(`upsampleConcat: sizes must be non-negative integers, got ${JSON.stringify(s)}`);
}

/** concat([upsample(deep), skip], 1): deep [N,Cd,H,W], skip [N,Cs,2H,2W] → [N,Cd+Cs,2H,2W]. */
export function upsampleConcatForwardWasm(deep: Float32Array, skip: Float32Array, s: UpsampleConcatSpec): Float32Array {
  check(s);
  const plane = s.H * s.W;
  if (deep.length !== s.N * s.Cd * plane || skip.length !== s.N * s.Cs * 4 * plane)
    throw new Error(`upsampleConcat: deep has ${deep.length} and skip ${skip.length} elements, ${JSON.stringify(s)} needs ${s.N * s.Cd * plane} and ${s.N * s.Cs * 4 * plane}`);
  scratch.reset();
  const out = kernelOutput(s.N * (s.Cd + s.Cs) * 4 * plane);
  setArgs([kernelInput(deep), kernelInput(skip), out.byte]);
  runItems(moduleFor(s), 'forward', ARGS_BYTE, s.N, memoryPassThreads(s.N * (s.Cd + s.Cs) * 4 * plane));
  return out.result();
}

/** The backward: dy [N,Cd+Cs,2H,2W] → dDeep (2×2 block sums of the first Cd channels) and dSkip (the rest). */
export function upsampleConcatBackwardWasm(dy: Float32Array, s: UpsampleConcatSpec): { dDeep: Float32Array; dSkip: Float32Array } {
  check(s);
  const plane = s.H * s.W;
  if (dy.length !== s.N * (s.Cd + s.Cs) * 4 * plane)
    throw new Error(`upsampleConcat: dy has ${dy.length} elements, ${JSON.stringify(s)} needs ${s.N * (s.Cd + s.Cs) * 4 * plane}`);
  scratch.reset();
  // two outputs: both reserved before any scratch (kernelOutput's rule); outside a scope both are scratch
  const dDeep = kernelOutput(s.N * s.Cd * plane);
  const dSkip = kernelOutput(s.N * s.Cs * 4 * plane);
  setArgs([kernelInput(dy), dDeep.byte, dSkip.byte]);
  runItems(moduleFor(s), 'backward', ARGS_BYTE, s.N, memoryPassThreads(s.N * (s.Cd + s.Cs) * 4 * plane));
  return { dDeep: dDeep.result(), dSkip: dSkip.result() };
}
