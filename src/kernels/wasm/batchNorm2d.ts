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
 *   backward stats:     Σ dy and Σ dy·(x − mean_c), in one pass over dy and x
 *            apply:     dx = A_c·dy − B_c − C_c·(x − mean_c)
 * The per-channel constants (a, b; A, B, C) are computed in JavaScript in float64 from the statistics.
 */
import { type ModuleBuilder, f32x4, f32, f64, i32, v128, type Expr, type FunctionBuilder, type Local } from './emitter.js';
import { ARGS_BYTE, heapF32, kernelModule, newKernelModule, runItems, scratch, setArgs } from './runtime.js';
import { kernelInput, kernelOutput } from './arena.js';
import { getNumThreads } from './threads.js';
import type { Shape4 } from '../js/conv2d.js';
import type { BatchNorm2dOptions } from '../js/batchNorm2d.js';

interface BnSpec { N: number; C: number; HW: number }

const THREAD_MIN = 1 << 16;

/**
 * Planes of a channel interleaved per loop: a reduction over one plane is a chain of dependent f32x4 adds
 * (each waits for the last), so a loop that carries the chains of PLANES planes at once runs them side by
 * side. Every plane is still summed on its own, in its own order, and the planes' sums are added to the
 * float64 totals in plane order: the same operations in the same order as one plane at a time, so the
 * same bits.
 */
const PLANES = 4;

/** Pointers (byte addresses) to a plane of channel c of x, dy, out and the mask (the fused ReLU's output). */
interface Planes { px: Local; pd: Local; po: Local; pm: Local }

/** A term at byte i of the plane at byte offset `off` from the pointers in `p`. */
type Term = (p: Planes, i: Local, off: number) => Expr;

/**
 * Export f(args, c) for every pass. Args (byte offsets): [0] x, [1] dy, [2] out, [3] f64 sums [C][2],
 * [4] f32 constants [C][4], [5] the fused ReLU's output (the mask of the *Relu backward passes).
 */
function buildModule(s: BnSpec): ModuleBuilder {
  const m = newKernelModule();
  const vecBytes = (s.HW >> 2) * 16;
  const planeBytes = s.HW * 4;
  /** Bytes from one plane of a channel to the next (the next image's). */
  const stride = s.C * planeBytes;
  const tail: number[] = [];
  for (let k = vecBytes; k < planeBytes; k += 4) tail.push(k);
  const G = Math.min(PLANES, s.N);

  /**
   * Loops over the channel's N planes in groups of G (then the remainder): `group(g, p)` handles planes
   * n … n + g − 1, plane n + k at byte offset k·stride from the pointers in `p`.
   */
  const planeGroups = (f: FunctionBuilder, args: Local, c: Local, group: (g: number, p: Planes) => void) => {
    const p: Planes = { px: f.local('i32', 'px'), pd: f.local('i32', 'pd'), po: f.local('i32', 'po'), pm: f.local('i32', 'pm') };
    const n = f.local('i32', 'n');
    const first = i32.mul(c, i32.const(planeBytes));
    f.set(p.px, i32.add(i32.load(args, 0), first));
    f.set(p.pd, i32.add(i32.load(args, 4), first));
    f.set(p.po, i32.add(i32.load(args, 8), first));
    f.set(p.pm, i32.add(i32.load(args, 20), first));
    const full = s.N - (s.N % G);
    f.forRange(n, 0, full, G, () => {
      group(G, p);
      for (const q of [p.px, p.pd, p.po, p.pm]) f.set(q, i32.add(q, i32.const(G * stride)));
    });
    if (full < s.N) group(s.N - full, p);
  };

  /**
   * For each (vector term, scalar term): Σ over the channel's planes, per plane in f32x4 lanes plus the
   * plane's scalar tail, each plane's sum added into the term's float64 total in plane order; total t is
   * stored at sums[c] + 8·(first + t).
   */
  const reduce = (f: FunctionBuilder, args: Local, c: Local, first: number, terms: [Term, Term][]) => {
    const totals = terms.map((_, t) => f.local('f64', `total${t}`));
    const accs = terms.map((_, t) => Array.from({ length: G }, (_, k) => f.local('v128', `acc${t}_${k}`)));
    const i = f.local('i32', 'i');
    planeGroups(f, args, c, (g, p) => {
      for (const a of accs) for (let k = 0; k < g; k++) f.set(a[k]!, v128.zero());
      f.forRange(i, 0, vecBytes, 16, () => {
        for (let k = 0; k < g; k++) terms.forEach(([vterm], t) => f.set(accs[t]![k]!, f32x4.add(accs[t]![k]!, vterm(p, i, k * stride))));
      });
      for (let k = 0; k < g; k++) {
        terms.forEach((_, t) => f.set(totals[t]!, f64.add(totals[t]!, f32x4.sumLanesF64(accs[t]![k]!))));
        for (const at of tail) {
          f.set(i, i32.const(at));
          terms.forEach(([, sterm], t) => f.set(totals[t]!, f64.add(totals[t]!, f64.promote(sterm(p, i, k * stride)))));
        }
      }
    });
    const sums = f.local('i32', 'sums');
    f.set(sums, i32.add(i32.load(args, 12), i32.shl(c, i32.const(4))));
    totals.forEach((total, t) => f.do(f64.store(sums, total, 8 * (first + t))));
    return sums;
  };

  /** out = term over every plane (vectors, then the scalar tail). */
  const map = (f: FunctionBuilder, args: Local, c: Local, vterm: Term, sterm: Term) => {
    const i = f.local('i32', 'i');
    planeGroups(f, args, c, (g, p) => {
      f.forRange(i, 0, vecBytes, 16, () => {
        for (let k = 0; k < g; k++) f.do(v128.store(i32.add(p.po, i), vterm(p, i, k * stride), k * stride));
      });
      for (let k = 0; k < g; k++)
        for (const at of tail) {
          f.set(i, i32.const(at));
          f.do(f32.store(i32.add(p.po, i), sterm(p, i, k * stride), k * stride));
        }
    });
  };

  const constant = (f: FunctionBuilder, args: Local, c: Local, k: number, into: Local, scalarInto: Local) => {
    f.set(scalarInto, f32.load(i32.add(i32.load(args, 16), i32.shl(c, i32.const(4))), 4 * k));
    f.set(into, f32x4.splat(scalarInto));
  };

  const xv: Term = (p, i, off) => v128.load(i32.add(p.px, i), off);
  const xs: Term = (p, i, off) => f32.load(i32.add(p.px, i), off);

  m.itemFunction('stats', (f, args, c) => {
    // two-pass: the mean, then Σ(x − mean)² (which needs it)
    const sums = reduce(f, args!, c!, 0, [[xv, xs]]);
    const mean = f.local('f64', 'mean'), mean32 = f.local('f32', 'mean32'), mv = f.local('v128', 'mv');
    f.set(mean, f64.div(f64.load(sums, 0), f64.const(s.N * s.HW)));
    f.do(f64.store(sums, mean, 0));
    f.set(mean32, f32.demote(mean));
    f.set(mv, f32x4.splat(mean32));
    reduce(f, args!, c!, 1, [[
      (p, i, off) => { const d = f32x4.sub(xv(p, i, off), mv); return f32x4.mul(d, d); },
      (p, i, off) => { const d = f32.sub(xs(p, i, off), mean32); return f32.mul(d, d); },
    ]]);
  });

  for (const fused of [false, true]) {
    m.itemFunction(fused ? 'normalizeRelu' : 'normalize', (f, args, c) => {
      const av = f.local('v128', 'av'), bv = f.local('v128', 'bv'), as = f.local('f32', 'as'), bs = f.local('f32', 'bs');
      constant(f, args!, c!, 0, av, as);
      constant(f, args!, c!, 1, bv, bs);
      map(f, args!, c!,
        (p, i, off) => { const y = f32x4.add(f32x4.mul(xv(p, i, off), av), bv); return fused ? f32x4.max(y, v128.zero()) : y; },
        (p, i, off) => { const y = f32.add(f32.mul(xs(p, i, off), as), bs); return fused ? f32.max(y, f32.const(0)) : y; });
    });
  }

  // a residual block's output: relu(bn(x) + skip), skip at args [1], as it is or through its own batch norm
  // (constants 2 and 3): the same operations, in the same order, as the normalising passes and AddRelu apart
  for (const skipBn of [false, true]) {
    m.itemFunction(skipBn ? 'normalizeBnAddRelu' : 'normalizeAddRelu', (f, args, c) => {
      const [av, bv, sav, sbv] = [0, 1, 2, 3].map((k) => f.local('v128', `v${k}`));
      const [as, bs, sas, sbs] = [0, 1, 2, 3].map((k) => f.local('f32', `s${k}`));
      constant(f, args!, c!, 0, av!, as!);
      constant(f, args!, c!, 1, bv!, bs!);
      if (skipBn) {
        constant(f, args!, c!, 2, sav!, sas!);
        constant(f, args!, c!, 3, sbv!, sbs!);
      }
      const skipVec: Term = (p, i, off) => { const v = v128.load(i32.add(p.pd, i), off); return skipBn ? f32x4.add(f32x4.mul(v, sav!), sbv!) : v; };
      const skipScalar: Term = (p, i, off) => { const v = f32.load(i32.add(p.pd, i), off); return skipBn ? f32.add(f32.mul(v, sas!), sbs!) : v; };
      map(f, args!, c!,
        (p, i, off) => f32x4.max(f32x4.add(f32x4.add(f32x4.mul(xv(p, i, off), av!), bv!), skipVec(p, i, off)), v128.zero()),
        (p, i, off) => f32.max(f32.add(f32.add(f32.mul(xs(p, i, off), as!), bs!), skipScalar(p, i, off)), f32.const(0)));
    });
  }

  // backward; the *Relu variants mask dy with the fused ReLU's output y (the gradient passes where y > 0)
  for (const masked of [false, true]) {
    const dyv: Term = (p, i, off) => {
      const dy = v128.load(i32.add(p.pd, i), off);
      return masked ? v128.and(dy, f32x4.gt(v128.load(i32.add(p.pm, i), off), v128.zero())) : dy;
    };
    const dys: Term = (p, i, off) => {
      const dy = f32.load(i32.add(p.pd, i), off);
      return masked ? f32.select(dy, f32.const(0), f32.gt(f32.load(i32.add(p.pm, i), off), f32.const(0))) : dy;
    };

    m.itemFunction(masked ? 'backwardStatsRelu' : 'backwardStats', (f, args, c) => {
      // Σ dy and Σ dy·(x − mean): independent sums, so one pass over dy (and the mask) computes both
      const mv = f.local('v128', 'mv'), ms = f.local('f32', 'ms');
      constant(f, args!, c!, 3, mv, ms);
      reduce(f, args!, c!, 0, [
        [dyv, dys],
        [(p, i, off) => f32x4.mul(dyv(p, i, off), f32x4.sub(xv(p, i, off), mv)), (p, i, off) => f32.mul(dys(p, i, off), f32.sub(xs(p, i, off), ms))],
      ]);
    });

    m.itemFunction(masked ? 'backwardApplyRelu' : 'backwardApply', (f, args, c) => {
      const [A, B, Cc, M] = [0, 1, 2, 3].map((k) => f.local('v128', `k${k}`));
      const [As, Bs, Cs, Ms] = [0, 1, 2, 3].map((k) => f.local('f32', `s${k}`));
      constant(f, args!, c!, 0, A!, As!);
      constant(f, args!, c!, 1, B!, Bs!);
      constant(f, args!, c!, 2, Cc!, Cs!);
      constant(f, args!, c!, 3, M!, Ms!);
      map(f, args!, c!,
        (p, i, off) => f32x4.sub(f32x4.sub(f32x4.mul(A!, dyv(p, i, off)), B!), f32x4.mul(Cc!, f32x4.sub(xv(p, i, off), M!))),
        (p, i, off) => f32.sub(f32.sub(f32.mul(As!, dys(p, i, off)), Bs!), f32.mul(Cs!, f32.sub(xs(p, i, off), Ms!))));
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

/** What a forward pass needs of one batch norm: the per-channel constants y = a·x + b, and what backward needs. */
interface Normalisation { mean: Float32Array; invStd: Float32Array; a: Float64Array; b: Float64Array }

/**
 * The batch statistics of x at byte `xB` (training mode: its 'stats' pass, running statistics updated in
 * place) or the running ones (eval mode), and the constants of the normalisation.
 */
function normalisation(s: BnSpec, xB: number, gamma: Float32Array, beta: Float32Array, opts: BatchNorm2dOptions): Normalisation {
  const { N, C, HW } = s;
  const m = N * HW;
  if (gamma.length !== C || beta.length !== C) throw new Error(`batchNorm2d: gamma and beta need ${C} elements`);
  const rm = opts.runningMean ?? null, rv = opts.runningVar ?? null;
  const mean = new Float32Array(C), invStd = new Float32Array(C);
  const a64 = new Float64Array(C), b64 = new Float64Array(C);
  if (opts.training) {
    if (m === 0) throw new Error('batchNorm2d: training mode needs at least one value per channel');
    const sumsB = scratch.alloc(4 * C);
    run(s, 'stats', { x: xB, dy: xB, out: xB, sums: sumsB, consts: sumsB, mask: xB });
    const sums = new Float64Array(heapF32().buffer, sumsB, 2 * C);
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
  return { mean, invStd, a: a64, b: b64 };
}

/** Writes the float32 constants [C][4] of a normalising pass: slots 0, 1 = a, b of `main`, 2, 3 = those of `second`. */
function writeConstants(C: number, main: Normalisation, second: Normalisation | null): number {
  const consts = new Float32Array(4 * C);
  for (let c = 0; c < C; c++) {
    consts[4 * c] = main.a[c]!;
    consts[4 * c + 1] = main.b[c]!;
    if (second) {
      consts[4 * c + 2] = second.a[c]!;
      consts[4 * c + 3] = second.b[c]!;
    }
  }
  const at = scratch.alloc(4 * C);
  heapF32().set(consts, at / 4);
  return at;
}

const checkLength = (what: string, a: Float32Array, n: number) => {
  if (a.length !== n) throw new Error(`batchNorm2d: ${what} has ${a.length} elements, shape needs ${n}`);
};

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
  checkLength('x', x, N * C * H * W);
  scratch.reset();
  const out = kernelOutput(x.length);
  const xB = kernelInput(x);
  const bn = normalisation(s, xB, gamma, beta, opts);
  const consts = writeConstants(C, bn, null);
  run(s, relu ? 'normalizeRelu' : 'normalize', { x: xB, dy: xB, out: out.byte, sums: consts, consts, mask: xB });
  return { out: out.result(), mean: bn.mean, invStd: bn.invStd };
}

/** A projection shortcut's batch norm, for batchNorm2dAddReluWasm. */
export interface SkipBatchNorm { gamma: Float32Array; beta: Float32Array; opts: BatchNorm2dOptions }

/**
 * A residual block's output, relu(bn(x) + skip) — or relu(bn(x) + bn'(skip)) with the shortcut's batch
 * norm `skipBn` — in one normalising pass that writes only the output: the same values as the batch
 * norms' passes and AddRelu apart, without writing bn(x) (and bn'(skip)) and reading them back. Returns
 * the statistics of both batch norms (their running statistics updated in place in training mode).
 */
export function batchNorm2dAddReluWasm(
  x: Float32Array, xShape: Shape4, gamma: Float32Array, beta: Float32Array, opts: BatchNorm2dOptions,
  skip: Float32Array, skipBn: SkipBatchNorm | null,
): { out: Float32Array; mean: Float32Array; invStd: Float32Array; skipMean: Float32Array | null; skipInvStd: Float32Array | null } {
  const [N, C, H, W] = xShape;
  const s: BnSpec = { N, C, HW: H * W };
  checkLength('x', x, N * C * H * W);
  checkLength('skip', skip, x.length);
  scratch.reset();
  const out = kernelOutput(x.length);
  const xB = kernelInput(x), skipB = kernelInput(skip);
  const bn = normalisation(s, xB, gamma, beta, opts);
  const sbn = skipBn ? normalisation(s, skipB, skipBn.gamma, skipBn.beta, skipBn.opts) : null;
  const consts = writeConstants(C, bn, sbn);
  run(s, sbn ? 'normalizeBnAddRelu' : 'normalizeAddRelu', { x: xB, dy: skipB, out: out.byte, sums: consts, consts, mask: xB });
  return { out: out.result(), mean: bn.mean, invStd: bn.invStd, skipMean: sbn?.mean ?? null, skipInvStd: sbn?.invStd ?? null };
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
