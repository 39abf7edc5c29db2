/**
 * Batch normalisation (NCHW, statistics per channel over N·H·W, PyTorch semantics; see
 * ../cpu/batchNorm2d.ts, the reference) on generated WebAssembly SIMD kernels, float32 data.
 *
 * A work item is one channel, so every per-channel reduction runs on one thread in one fixed order:
 * within a plane, four f32x4 lanes; across planes, float64 sums (the plane's lanes promoted exactly).
 * Statistics are two-pass (mean, then Σ(x − mean)²), as in the reference.
 *
 *   forward  stats:     mean_c, Σ(x − mean_c)²             (training mode only)
 *            normalize: y = a_c·x + b_c  [then max(y, 0) when fused with the ReLU that follows]
 *   backward stats:     Σ dy, Σ dy·(x − mean_c)
 *            apply:     dx = A_c·dy − B_c − C_c·(x − mean_c)
 * The per-channel constants (a, b; A, B, C) are computed in JavaScript in float64 from the statistics.
 */
import { type ModuleBuilder, f32x4, f32, f64, i32, v128, type Expr, type FunctionBuilder, type Local } from './emitter.js';
import { ARGS_BYTE, heapF32, kernelModule, newKernelModule, runItems, scratch, setArgs } from './runtime.js';
import { kernelInput, kernelOutput } from './arena.js';
import { getNumThreads } from '../js/threadPool.js';
import type { Shape4 } from '../js/conv2d.js';
import type { BatchNorm2dOptions } from '../js/batchNorm2d.js';

interface BnSpec { N: number; C: number; HW: number }

const THREAD_MIN = 1 << 16;

/**
 * Export f(args, c) for every pass. Args (byte offsets): [0] x, [1] dy, [2] out, [3] f64 sums [C][2],
 * [4] f32 constants [C][4], [5] the fused ReLU's output (the mask of the *Relu backward passes).
 */
function buildModule(s: BnSpec): ModuleBuilder {
  const m = newKernelModule();
  const vecBytes = (s.HW >> 2) * 16;
  const planeBytes = s.HW * 4;

  /** Loops over the channel's N planes: `perPlane(xPlane, dyPlane, outPlane, maskPlane)` with byte pointers. */
  const planes = (f: FunctionBuilder, args: Local, c: Local, perPlane: (px: Local, pd: Local, po: Local, pm: Local) => void) => {
    const px = f.local('i32', 'px'), pd = f.local('i32', 'pd'), po = f.local('i32', 'po'), pm = f.local('i32', 'pm'), n = f.local('i32', 'n');
    const first = i32.mul(c, i32.const(planeBytes));
    f.set(px, i32.add(i32.load(args, 0), first));
    f.set(pd, i32.add(i32.load(args, 4), first));
    f.set(po, i32.add(i32.load(args, 8), first));
    f.set(pm, i32.add(i32.load(args, 20), first));
    f.forRange(n, 0, s.N, 1, () => {
      perPlane(px, pd, po, pm);
      f.set(px, i32.add(px, i32.const(s.C * planeBytes)));
      f.set(pd, i32.add(pd, i32.const(s.C * planeBytes)));
      f.set(po, i32.add(po, i32.const(s.C * planeBytes)));
      f.set(pm, i32.add(pm, i32.const(s.C * planeBytes)));
    });
  };

  /** Σ over a plane of term(vector at byte i) in f32x4 lanes, plus the scalar tail, added into f64 `total`. */
  const reducePlane = (f: FunctionBuilder, total: Local, acc: Local, i: Local, vterm: (i: Local) => Expr, sterm: (i: Local) => Expr) => {
    f.set(acc, v128.zero());
    f.forRange(i, 0, vecBytes, 16, () => f.set(acc, f32x4.add(acc, vterm(i))));
    f.set(total, f64.add(total, f32x4.sumLanesF64(acc)));
    for (let k = vecBytes; k < planeBytes; k += 4) {
      f.set(i, i32.const(k));
      f.set(total, f64.add(total, f64.promote(sterm(i))));
    }
  };

  /** out[i] = vterm(i) over the plane (vectors, then the scalar tail). */
  const mapPlane = (f: FunctionBuilder, po: Local, i: Local, vterm: (i: Local) => Expr, sterm: (i: Local) => Expr) => {
    f.forRange(i, 0, vecBytes, 16, () => f.do(v128.store(i32.add(po, i), vterm(i))));
    for (let k = vecBytes; k < planeBytes; k += 4) {
      f.set(i, i32.const(k));
      f.do(f32.store(i32.add(po, i), sterm(i)));
    }
  };

  const constant = (f: FunctionBuilder, args: Local, c: Local, k: number, into: Local, scalarInto: Local) => {
    f.set(scalarInto, f32.load(i32.add(i32.load(args, 16), i32.shl(c, i32.const(4))), 4 * k));
    f.set(into, f32x4.splat(scalarInto));
  };

  m.itemFunction('stats', (f, args, c) => {
    const total = f.local('f64', 'total'), acc = f.local('v128', 'acc'), i = f.local('i32', 'i');
    const mean = f.local('f64', 'mean'), mean32 = f.local('f32', 'mean32'), mv = f.local('v128', 'mv');
    const sums = f.local('i32', 'sums');
    f.set(sums, i32.add(i32.load(args!, 12), i32.shl(c!, i32.const(4))));
    planes(f, args!, c!, (px) => reducePlane(f, total, acc, i, (i) => v128.load(i32.add(px, i)), (i) => f32.load(i32.add(px, i))));
    f.set(mean, f64.div(total, f64.const(s.N * s.HW)));
    f.do(f64.store(sums, mean, 0));
    f.set(mean32, f32.demote(mean));
    f.set(mv, f32x4.splat(mean32));
    f.set(total, f64.const(0));
    planes(f, args!, c!, (px) => reducePlane(f, total, acc, i,
      (i) => { const d = f32x4.sub(v128.load(i32.add(px, i)), mv); return f32x4.mul(d, d); },
      (i) => { const d = f32.sub(f32.load(i32.add(px, i)), mean32); return f32.mul(d, d); }));
    f.do(f64.store(sums, total, 8));
  });

  for (const fused of [false, true]) {
    m.itemFunction(fused ? 'normalizeRelu' : 'normalize', (f, args, c) => {
      const i = f.local('i32', 'i'), av = f.local('v128', 'av'), bv = f.local('v128', 'bv'), as = f.local('f32', 'as'), bs = f.local('f32', 'bs');
      constant(f, args!, c!, 0, av, as);
      constant(f, args!, c!, 1, bv, bs);
      planes(f, args!, c!, (px, _pd, po) => mapPlane(f, po, i,
        (i) => { const y = f32x4.add(f32x4.mul(v128.load(i32.add(px, i)), av), bv); return fused ? f32x4.max(y, v128.zero()) : y; },
        (i) => { const y = f32.add(f32.mul(f32.load(i32.add(px, i)), as), bs); return fused ? f32.max(y, f32.const(0)) : y; }));
    });
  }

  // backward; the *Relu variants mask dy with the fused ReLU's output y (the gradient passes where y > 0)
  for (const masked of [false, true]) {
    const dyVec = (pd: Local, pm: Local, i: Local): Expr =>
      masked ? v128.and(v128.load(i32.add(pd, i)), f32x4.gt(v128.load(i32.add(pm, i)), v128.zero())) : v128.load(i32.add(pd, i));
    const dyScalar = (pd: Local, pm: Local, i: Local): Expr =>
      masked ? f32.select(f32.load(i32.add(pd, i)), f32.const(0), f32.gt(f32.load(i32.add(pm, i)), f32.const(0))) : f32.load(i32.add(pd, i));

    m.itemFunction(masked ? 'backwardStatsRelu' : 'backwardStats', (f, args, c) => {
      const total = f.local('f64', 'total'), acc = f.local('v128', 'acc'), i = f.local('i32', 'i');
      const mv = f.local('v128', 'mv'), ms = f.local('f32', 'ms'), sums = f.local('i32', 'sums');
      f.set(sums, i32.add(i32.load(args!, 12), i32.shl(c!, i32.const(4))));
      constant(f, args!, c!, 3, mv, ms);
      planes(f, args!, c!, (_px, pd, _po, pm) => reducePlane(f, total, acc, i, (i) => dyVec(pd, pm, i), (i) => dyScalar(pd, pm, i)));
      f.do(f64.store(sums, total, 0));
      f.set(total, f64.const(0));
      planes(f, args!, c!, (px, pd, _po, pm) => reducePlane(f, total, acc, i,
        (i) => f32x4.mul(dyVec(pd, pm, i), f32x4.sub(v128.load(i32.add(px, i)), mv)),
        (i) => f32.mul(dyScalar(pd, pm, i), f32.sub(f32.load(i32.add(px, i)), ms))));
      f.do(f64.store(sums, total, 8));
    });

    m.itemFunction(masked ? 'backwardApplyRelu' : 'backwardApply', (f, args, c) => {
      const i = f.local('i32', 'i');
      const [A, B, Cc, M] = [0, 1, 2, 3].map((k) => f.local('v128', `k${k}`));
      const [As, Bs, Cs, Ms] = [0, 1, 2, 3].map((k) => f.local('f32', `s${k}`));
      constant(f, args!, c!, 0, A!, As!);
      constant(f, args!, c!, 1, B!, Bs!);
      constant(f, args!, c!, 2, Cc!, Cs!);
      constant(f, args!, c!, 3, M!, Ms!);
      planes(f, args!, c!, (px, pd, po, pm) => mapPlane(f, po, i,
        (i) => f32x4.sub(f32x4.sub(f32x4.mul(A!, dyVec(pd, pm, i)), B!), f32x4.mul(Cc!, f32x4.sub(v128.load(i32.add(px, i)), M!))),
        (i) => f32.sub(f32.sub(f32.mul(As!, dyScalar(pd, pm, i)), Bs!), f32.mul(Cs!, f32.sub(f32.load(i32.add(px, i)), Ms!)))));
    });
  }
  return m;
}

function moduleFor(s: BnSpec) {
  return kernelModule(`bn:${s.N}:${s.C}:${s.HW}`, () => buildModule(s));
}

interface Buffers { x: number; dy: number; out: number; sums: number; consts: number; mask: number }

function run(s: BnSpec, fn: string, b: Buffers): void {
  setArgs([b.x, b.dy, b.out, b.sums, b.consts, b.mask]);
  runItems(moduleFor(s), fn, ARGS_BYTE, s.C, s.N * s.C * s.HW >= THREAD_MIN ? getNumThreads() : 1);
}

/**
 * Forward pass, same contract as the reference `batchNorm2dForward` (running statistics updated in
 * place in training mode). With `relu`, the output is max(y, 0): batch norm and the ReLU after it in one
 * pass (the caller then differentiates through both).
 */
export function batchNorm2dForwardWasm(
  x: Float32Array, xShape: Shape4, gamma: Float32Array, beta: Float32Array, opts: BatchNorm2dOptions, relu = false,
): { out: Float32Array; mean: Float32Array; invStd: Float32Array } {
  const [N, C, H, W] = xShape;
  const s: BnSpec = { N, C, HW: H * W };
  const m = N * H * W;
  if (x.length !== m * C) throw new Error(`batchNorm2d: x has ${x.length} elements, shape needs ${m * C}`);
  if (gamma.length !== C || beta.length !== C) throw new Error(`batchNorm2d: gamma and beta need ${C} elements`);
  const rm = opts.runningMean ?? null, rv = opts.runningVar ?? null;
  scratch.reset();
  const out = kernelOutput(x.length);
  const xB = kernelInput(x);
  const b: Buffers = { x: xB, dy: xB, out: out.byte, sums: scratch.alloc(4 * C), consts: scratch.alloc(4 * C), mask: xB };
  const mean = new Float32Array(C), invStd = new Float32Array(C);
  const a64 = new Float64Array(C), b64 = new Float64Array(C);
  if (opts.training) {
    if (m === 0) throw new Error('batchNorm2d: training mode needs at least one value per channel');
    run(s, 'stats', b);
    const sums = new Float64Array(heapF32().buffer, b.sums, 2 * C);
    for (let c = 0; c < C; c++) {
      const mu = sums[2 * c]!, m2 = sums[2 * c + 1]!;
      const is = 1 / Math.sqrt(m2 / m + opts.eps);
      mean[c] = mu;
      invStd[c] = is;
      a64[c] = gamma[c]! * is;
      b64[c] = beta[c]! - mu * a64[c]!;
      if (rm !== null) rm[c] = (1 - opts.momentum) * rm[c]! + opts.momentum * mu;
      if (rv !== null) rv[c] = (1 - opts.momentum) * rv[c]! + opts.momentum * (m > 1 ? m2 / (m - 1) : m2 / m);
    }
  } else {
    if (rm === null || rv === null) throw new Error('batchNorm2d: eval mode needs runningMean and runningVar');
    for (let c = 0; c < C; c++) {
      const is = 1 / Math.sqrt(rv[c]! + opts.eps);
      mean[c] = rm[c]!;
      invStd[c] = is;
      a64[c] = gamma[c]! * is;
      b64[c] = beta[c]! - rm[c]! * a64[c]!;
    }
  }
  const consts = new Float32Array(4 * C);
  for (let c = 0; c < C; c++) {
    consts[4 * c] = a64[c]!;
    consts[4 * c + 1] = b64[c]!;
  }
  heapF32().set(consts, b.consts / 4);
  run(s, relu ? 'normalizeRelu' : 'normalize', b);
  return { out: out.result(), mean, invStd };
}

/**
 * Training-mode backward, same contract as the reference `batchNorm2dBackward`. With `reluOut` (the output
 * of the fused batch norm + ReLU), dy is first masked to where reluOut > 0: the ReLU's backward inside
 * the batch norm's passes.
 */
export function batchNorm2dBackwardWasm(
  dy: Float32Array, x: Float32Array, xShape: Shape4, gamma: Float32Array, mean: Float32Array, invStd: Float32Array,
  reluOut: Float32Array | null = null,
): { dx: Float32Array; dgamma: Float32Array; dbeta: Float32Array } {
  const [N, C, H, W] = xShape;
  const s: BnSpec = { N, C, HW: H * W };
  const m = N * H * W;
  if (dy.length !== x.length || x.length !== m * C) throw new Error(`batchNorm2d: dy has ${dy.length} elements, x has ${x.length}, shape needs ${m * C}`);
  if (reluOut !== null && reluOut.length !== x.length) throw new Error(`batchNorm2d: reluOut has ${reluOut.length} elements, x has ${x.length}`);
  scratch.reset();
  const out = kernelOutput(x.length);
  const xB = kernelInput(x), dyB = kernelInput(dy);
  const b: Buffers = { x: xB, dy: dyB, out: out.byte, sums: scratch.alloc(4 * C), consts: scratch.alloc(4 * C), mask: reluOut === null ? dyB : kernelInput(reluOut) };
  const consts = new Float32Array(4 * C);
  for (let c = 0; c < C; c++) consts[4 * c + 3] = mean[c]!;
  heapF32().set(consts, b.consts / 4);
  run(s, reluOut !== null ? 'backwardStatsRelu' : 'backwardStats', b);
  const sums = new Float64Array(heapF32().buffer, b.sums, 2 * C);
  const dgamma = new Float32Array(C), dbeta = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const sdy = sums[2 * c]!, sdyx = sums[2 * c + 1]!, is = invStd[c]!;
    const dg = sdyx * is;
    dgamma[c] = dg;
    dbeta[c] = sdy;
    // dx = k·(m·dy − Σdy − x̂·dγ) with k = γ·invStd/m, as in the reference
    const k = m === 0 ? 0 : (gamma[c]! * is) / m;
    consts[4 * c] = k * m;
    consts[4 * c + 1] = k * sdy;
    consts[4 * c + 2] = k * dg * is;
  }
  heapF32().set(consts, b.consts / 4);
  run(s, reluOut !== null ? 'backwardApplyRelu' : 'backwardApply', b);
  return { dx: out.result(), dgamma, dbeta };
}
