/**
 * The Adam update (no weight decay) for float32 parameters on WebAssembly SIMD, computed in float64
 * lanes (f64x2) with exactly the operations, in exactly the order, of the JavaScript loop in
 * src/models/optim.ts — so the two give bit-identical weights and moments (IEEE 754 makes every +, ×, ÷
 * and √ correctly rounded, in JavaScript and in WebAssembly alike):
 *
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + ((1−β2)·g)·g;  w ← w − (lr·(m/c1)) / (√(v/c2) + ε)
 *
 * with m and v kept unrounded for the update of w and stored as float32. All parameters go in one call
 * (concatenated), cut into fixed chunks.
 */
import { f64, f64x2, i32, v128, type Expr, type Local, type ModuleBuilder } from './emitter.js';
import { ARGS_BYTE, heapF32, kernelModule, newKernelModule, runItems, scratch, setArgs } from './runtime.js';
import { getNumThreads } from './threads.js';

/** Elements per work item (even). */
const CHUNK = 8192;

function buildModule(): ModuleBuilder {
  const m = newKernelModule();
  // args (bytes): [0] w, [4] g, [8] m, [12] v, [16] n, [24..] f64: b1, 1−b1, b2, 1−b2, lr, c1, c2, eps
  m.itemFunction('step', (f, args, item) => {
    const w = f.local('i32', 'w'), g = f.local('i32', 'g'), mm = f.local('i32', 'm'), vv = f.local('i32', 'v');
    const end = f.local('i32', 'end'), i = f.local('i32', 'i');
    const constant = (name: string, j: number): Local => {
      const l = f.local('v128', name);
      f.set(l, f64x2.splat(f64.load(args!, 24 + 8 * j)));
      return l;
    };
    const b1 = constant('b1', 0), nb1 = constant('nb1', 1), b2 = constant('b2', 2), nb2 = constant('nb2', 3);
    const lr = constant('lr', 4), c1 = constant('c1', 5), c2 = constant('c2', 6), eps = constant('eps', 7);
    const gi = f.local('v128', 'gi'), mi = f.local('v128', 'mi'), vi = f.local('v128', 'vi'), wi = f.local('v128', 'wi');
    f.set(w, i32.load(args!, 0));
    f.set(g, i32.load(args!, 4));
    f.set(mm, i32.load(args!, 8));
    f.set(vv, i32.load(args!, 12));
    f.set(i, i32.mul(item!, i32.const(CHUNK * 4)));
    f.set(end, i32.add(i, i32.const(CHUNK * 4)));
    const n4 = i32.shl(i32.load(args!, 16), i32.const(2));
    f.if(i32.gt_s(end, n4), () => f.set(end, n4));
    const pair = (base: Expr) => f64x2.promote_low_f32x4(v128.load64_zero(i32.add(base, i)));
    // two elements per iteration (the caller pads n to even)
    f.forRange(i, i, end, 8, () => {
      f.set(gi, pair(g));
      f.set(mi, f64x2.add(f64x2.mul(b1, pair(mm)), f64x2.mul(nb1, gi)));
      f.set(vi, f64x2.add(f64x2.mul(b2, pair(vv)), f64x2.mul(f64x2.mul(nb2, gi), gi)));
      f.do(v128.store64_lane0(i32.add(mm, i), f64x2.demote_to_f32x4_zero(mi)));
      f.do(v128.store64_lane0(i32.add(vv, i), f64x2.demote_to_f32x4_zero(vi)));
      f.set(wi, pair(w));
      f.set(wi, f64x2.sub(wi, f64x2.div(f64x2.mul(lr, f64x2.div(mi, c1)), f64x2.add(f64x2.sqrt(f64x2.div(vi, c2)), eps))));
      f.do(v128.store64_lane0(i32.add(w, i), f64x2.demote_to_f32x4_zero(wi)));
    });
  });
  return m;
}

export interface AdamConstants { beta1: number; beta2: number; lr: number; eps: number; c1: number; c2: number }

/**
 * One Adam step for every (w, g, m, v) quadruple, in place (w, m and v are updated). Float32 arrays of
 * equal length per quadruple.
 */
export function adamStepWasm(groups: readonly { w: Float32Array; g: Float32Array; m: Float32Array; v: Float32Array }[], k: AdamConstants): void {
  let n = 0;
  for (const q of groups) n += q.w.length;
  const padded = n + (n & 1);
  scratch.reset();
  const wB = scratch.alloc(padded), gB = scratch.alloc(padded), mB = scratch.alloc(padded), vB = scratch.alloc(padded);
  const heap = heapF32();
  let at = 0;
  for (const q of groups) {
    heap.set(q.w, wB / 4 + at);
    heap.set(q.g, gB / 4 + at);
    heap.set(q.m, mB / 4 + at);
    heap.set(q.v, vB / 4 + at);
    at += q.w.length;
  }
  setArgs([wB, gB, mB, vB, padded]);
  new Float64Array(heap.buffer, ARGS_BYTE + 24, 8).set([k.beta1, 1 - k.beta1, k.beta2, 1 - k.beta2, k.lr, k.c1, k.c2, k.eps]);
  // over the threads: the float64 divisions and square roots, two lanes at a time, weigh more than the copies
  // around them (one thread: 4.6 ms of a W1 step's 188 in a profile; chunks are fixed, so the same bits)
  runItems(kernelModule('adam', buildModule), 'step', ARGS_BYTE, Math.ceil(padded / CHUNK), getNumThreads());
  const out = heapF32();
  at = 0;
  for (const q of groups) {
    const len = q.w.length;
    q.w.set(out.subarray(wB / 4 + at, wB / 4 + at + len));
    q.m.set(out.subarray(mB / 4 + at, mB / 4 + at + len));
    q.v.set(out.subarray(vB / 4 + at, vB / 4 + at + len));
    at += len;
  }
}
