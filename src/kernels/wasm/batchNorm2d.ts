/**
 * Batch normalisation (NCHW, statistics per channel over N·H·W, PyTorch semantics; see
 * ../js/batchNorm2d.ts, the reference) on generated WebAssembly SIMD kernels, float32 data.
 *
 * A work item is one channel, so every per-channel reduction runs on one thread in one fixed order:
 * within a plane, four f32x4 lanes; across planes, float64 sums (the plane's lanes promoted exactly).
 * Statistics are two-pass (mean, then Σ(x − mean)²), as in the reference. An item does all of its
 * channel's work — statistics, the per-channel constants, the pass that writes the result — while the
 * channel's data is still in the core's cache, and a call hands its items to the threads once.
 *
 *   forward   stats:     mean_c, Σ(x − mean_c)²             (training mode only)
 *             constants: invStd = 1/√(Σ(x − mean)²/m + ε), a = γ·invStd, b = β − mean·a   (float64)
 *             normalize: y = a_c·x + b_c  [then max(y, 0) when fused with the ReLU that follows, or
 *                        max(y + skip, 0) (skip normalised by its own batch norm or not): a residual block]
 *   backward  stats:     Σ dy and Σ dy·(x − mean_c), in one pass over dy and x
 *             constants: k = γ·invStd/m, A = k·m, B = k·Σdy, C = k·(Σdy·(x − mean)·invStd)·invStd
 *             apply:     dx = A_c·dy − B_c − C_c·(x − mean_c)
 * The constants are computed in float64 and rounded to float32, with the operations, in the order, that
 * the JavaScript of earlier versions used (IEEE 754 makes ÷, √ and the rest correctly rounded in both), so
 * the results have not changed by a bit. Eval mode's constants come from the running statistics, in
 * JavaScript.
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
 * Argument block (byte offsets from the block): 0 x, 4 dy — or the skip input of the residual passes —,
 * 8 out, 12 f64 sums [C][4] (the kernel's statistics, for the caller), 16 f32 constants [C][4] (eval
 * mode's a, b and the skip's a, b), 20 the fused ReLU's output (the mask of the *Relu backward), 24 f32
 * parameters [C][4] (forward: γ, β, the skip's γ, β; backward: γ, mean, invStd); f64 at 32: ε, at 40: the
 * skip's ε.
 */
const ARG = { x: 0, dy: 4, out: 8, sums: 12, consts: 16, mask: 20, params: 24, eps: 32, skipEps: 40 } as const;

/** Export f(args, c) for every pass (one item per channel). */
function buildModule(s: BnSpec): ModuleBuilder {
  const mod = newKernelModule();
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
  const planeGroups = (f: FunctionBuilder, args: Local, c: Local, group: (g: number, p: Planes) => void, xArg: number = ARG.x) => {
    const p: Planes = { px: f.local('i32', 'px'), pd: f.local('i32', 'pd'), po: f.local('i32', 'po'), pm: f.local('i32', 'pm') };
    const n = f.local('i32', 'n');
    const first = i32.mul(c, i32.const(planeBytes));
    f.set(p.px, i32.add(i32.load(args, xArg), first));
    f.set(p.pd, i32.add(i32.load(args, ARG.dy), first));
    f.set(p.po, i32.add(i32.load(args, ARG.out), first));
    f.set(p.pm, i32.add(i32.load(args, ARG.mask), first));
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
  const reduce = (f: FunctionBuilder, args: Local, c: Local, first: number, terms: [Term, Term][], xArg: number = ARG.x) => {
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
    }, xArg);
    const sums = f.local('i32', 'sums');
    f.set(sums, i32.add(i32.load(args, ARG.sums), i32.shl(c, i32.const(5))));
    totals.forEach((total, t) => f.do(f64.store(sums, total, 8 * (first + t))));
    return { sums, totals };
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

  /** Constant k of channel c from the f32 [C][4] block at args slot `at`, as a scalar and splat into a vector. */
  const constant = (f: FunctionBuilder, args: Local, c: Local, k: number, into: Local, scalarInto: Local, at: number = ARG.consts) => {
    f.set(scalarInto, f32.load(i32.add(i32.load(args, at), i32.shl(c, i32.const(4))), 4 * k));
    f.set(into, f32x4.splat(scalarInto));
  };
  /** Parameter k of channel c (the f32 [C][4] block at args slot 24), promoted to float64. */
  const param = (args: Local, c: Local, k: number): Expr =>
    f64.promote(f32.load(i32.add(i32.load(args, ARG.params), i32.shl(c, i32.const(4))), 4 * k));

  const xv: Term = (p, i, off) => v128.load(i32.add(p.px, i), off);
  const xs: Term = (p, i, off) => f32.load(i32.add(p.px, i), off);
  const m = s.N * s.HW;

  /**
   * Training mode: the statistics of channel c of the input at args slot `xArg` (stored at f64 slots
   * `first`, `first` + 1 of sums[c]: the mean and Σ(x − mean)²), then its constants a = γ·invStd and
   * b = β − mean·a (parameters `g`, `g` + 1), rounded to float32 and splat into vectors.
   */
  const trainingConstants = (f: FunctionBuilder, args: Local, c: Local, xArg: number, first: number, g: number, epsAt: number) => {
    const { sums, totals } = reduce(f, args, c, first, [[(p, i, off) => v128.load(i32.add(p.px, i), off), (p, i, off) => f32.load(i32.add(p.px, i), off)]], xArg);
    const mean = f.local('f64', 'mean'), mean32 = f.local('f32', 'mean32'), mv = f.local('v128', 'mv');
    f.set(mean, f64.div(totals[0]!, f64.const(m)));
    f.do(f64.store(sums, mean, 8 * first));
    f.set(mean32, f32.demote(mean));
    f.set(mv, f32x4.splat(mean32));
    const m2 = reduce(f, args, c, first + 1, [[
      (p, i, off) => { const d = f32x4.sub(v128.load(i32.add(p.px, i), off), mv); return f32x4.mul(d, d); },
      (p, i, off) => { const d = f32.sub(f32.load(i32.add(p.px, i), off), mean32); return f32.mul(d, d); },
    ]], xArg).totals[0]!;
    const is = f.local('f64', 'is'), a = f.local('f64', 'a');
    f.set(is, f64.div(f64.const(1), f64.sqrt(f64.add(f64.div(m2, f64.const(m)), f64.load(args, epsAt)))));
    f.set(a, f64.mul(param(args, c, g), is));
    const as = f.local('f32', 'as'), bs = f.local('f32', 'bs'), av = f.local('v128', 'av'), bv = f.local('v128', 'bv');
    f.set(as, f32.demote(a));
    f.set(bs, f32.demote(f64.sub(param(args, c, g + 1), f64.mul(mean, a))));
    f.set(av, f32x4.splat(as));
    f.set(bv, f32x4.splat(bs));
    return { av, bv, as, bs };
  };

  /** The constants of eval mode, computed by the caller: slots k, k + 1 of the constants block. */
  const evalConstants = (f: FunctionBuilder, args: Local, c: Local, k: number) => {
    const av = f.local('v128', 'av'), bv = f.local('v128', 'bv'), as = f.local('f32', 'as'), bs = f.local('f32', 'bs');
    constant(f, args, c, k, av, as);
    constant(f, args, c, k + 1, bv, bs);
    return { av, bv, as, bs };
  };

  // forward: y = a·x + b, then max(y, 0) (the ReLU that follows) or max(y + skip, 0) with skip as it is or
  // through its own batch norm (a residual block's output): the same operations, in the same order, as
  // the normalising passes and AddRelu apart
  for (const training of [false, true]) {
    for (const kind of ['', 'Relu', 'AddRelu', 'BnAddRelu'] as const) {
      mod.itemFunction(`${training ? 'train' : 'normalize'}${kind}`, (f, args, c) => {
        const k = training ? trainingConstants(f, args!, c!, ARG.x, 0, 0, ARG.eps) : evalConstants(f, args!, c!, 0);
        const sk = kind !== 'BnAddRelu' ? null : training ? trainingConstants(f, args!, c!, ARG.dy, 2, 2, ARG.skipEps) : evalConstants(f, args!, c!, 2);
        const skipVec: Term = (p, i, off) => { const v = v128.load(i32.add(p.pd, i), off); return sk ? f32x4.add(f32x4.mul(v, sk.av), sk.bv) : v; };
        const skipScalar: Term = (p, i, off) => { const v = f32.load(i32.add(p.pd, i), off); return sk ? f32.add(f32.mul(v, sk.as), sk.bs) : v; };
        map(f, args!, c!,
          (p, i, off) => {
            const y = f32x4.add(f32x4.mul(xv(p, i, off), k.av), k.bv);
            if (kind === '') return y;
            return f32x4.max(kind === 'Relu' ? y : f32x4.add(y, skipVec(p, i, off)), v128.zero());
          },
          (p, i, off) => {
            const y = f32.add(f32.mul(xs(p, i, off), k.as), k.bs);
            if (kind === '') return y;
            return f32.max(kind === 'Relu' ? y : f32.add(y, skipScalar(p, i, off)), f32.const(0));
          });
      });
    }
  }

  // backward; the *Relu variant masks dy with the fused ReLU's output y (the gradient passes where y > 0)
  for (const masked of [false, true]) {
    const dyv: Term = (p, i, off) => {
      const dy = v128.load(i32.add(p.pd, i), off);
      return masked ? v128.and(dy, f32x4.gt(v128.load(i32.add(p.pm, i), off), v128.zero())) : dy;
    };
    const dys: Term = (p, i, off) => {
      const dy = f32.load(i32.add(p.pd, i), off);
      return masked ? f32.select(dy, f32.const(0), f32.gt(f32.load(i32.add(p.pm, i), off), f32.const(0))) : dy;
    };

    mod.itemFunction(masked ? 'backwardRelu' : 'backward', (f, args, c) => {
      // the mean (parameter 1) as float32, as the passes subtract it
      const mv = f.local('v128', 'mv'), ms = f.local('f32', 'ms');
      constant(f, args!, c!, 1, mv, ms, ARG.params);
      // Σ dy and Σ dy·(x − mean): independent sums, so one pass over dy (and the mask) computes both
      const [sdy, sdyx] = reduce(f, args!, c!, 0, [
        [dyv, dys],
        [(p, i, off) => f32x4.mul(dyv(p, i, off), f32x4.sub(xv(p, i, off), mv)), (p, i, off) => f32.mul(dys(p, i, off), f32.sub(xs(p, i, off), ms))],
      ]).totals as [Local, Local];
      // dx = k·(m·dy − Σdy − x̂·dγ) with k = γ·invStd/m and dγ = Σdy·(x − mean)·invStd, as in the reference
      const is = f.local('f64', 'is'), k = f.local('f64', 'k');
      f.set(is, param(args!, c!, 2));
      f.set(k, f64.div(f64.mul(param(args!, c!, 0), is), f64.const(m)));
      const [A, B, Cc] = [0, 1, 2].map((j) => f.local('v128', `k${j}`)) as [Local, Local, Local];
      const [As, Bs, Cs] = [0, 1, 2].map((j) => f.local('f32', `s${j}`)) as [Local, Local, Local];
      f.set(As, f32.demote(f64.mul(k, f64.const(m))));
      f.set(Bs, f32.demote(f64.mul(k, sdy)));
      f.set(Cs, f32.demote(f64.mul(f64.mul(k, f64.mul(sdyx, is)), is)));
      f.set(A, f32x4.splat(As));
      f.set(B, f32x4.splat(Bs));
      f.set(Cc, f32x4.splat(Cs));
      map(f, args!, c!,
        (p, i, off) => f32x4.sub(f32x4.sub(f32x4.mul(A, dyv(p, i, off)), B), f32x4.mul(Cc, f32x4.sub(xv(p, i, off), mv))),
        (p, i, off) => f32.sub(f32.sub(f32.mul(As, dys(p, i, off)), Bs), f32.mul(Cs, f32.sub(xs(p, i, off), ms))));
    });
  }
  return mod;
}

function moduleFor(s: BnSpec) {
  return kernelModule(`bn:${s.N}:${s.C}:${s.HW}`, () => buildModule(s));
}

interface Buffers { x: number; dy: number; out: number; sums: number; consts: number; mask: number; params: number; eps?: number; skipEps?: number }

function run(s: BnSpec, fn: string, b: Buffers): void {
  setArgs([b.x, b.dy, b.out, b.sums, b.consts, b.mask, b.params]);
  const f64 = new Float64Array(heapF32().buffer, ARGS_BYTE + ARG.eps, 2);
  f64[0] = b.eps ?? 0;
  f64[1] = b.skipEps ?? 0;
  runItems(moduleFor(s), fn, ARGS_BYTE, s.C, s.N * s.C * s.HW >= THREAD_MIN ? getNumThreads() : 1);
}

const checkLength = (what: string, a: Float32Array, n: number) => {
  if (a.length !== n) throw new Error(`batchNorm2d: ${what} has ${a.length} elements, shape needs ${n}`);
};

/** Copies per-channel float32 columns into a [C][4] block of scratch (missing columns stay 0); its byte offset. */
function columns(C: number, cols: (ArrayLike<number> | null)[]): number {
  const block = new Float32Array(4 * C);
  cols.forEach((col, k) => {
    if (col) for (let c = 0; c < C; c++) block[4 * c + k] = col[c]!;
  });
  const at = scratch.alloc(4 * C);
  heapF32().set(block, at / 4);
  return at;
}

/** One batch norm of a forward pass: its parameters and options. */
interface Norm { gamma: Float32Array; beta: Float32Array; opts: BatchNorm2dOptions }

/** Eval mode: the constants y = a·x + b from the running statistics (float64, rounded once), and mean, invStd. */
function evalNormalisation(C: number, n: Norm): { a: Float64Array; b: Float64Array; mean: Float32Array; invStd: Float32Array } {
  const rm = n.opts.runningMean ?? null, rv = n.opts.runningVar ?? null;
  if (rm === null || rv === null) throw new Error('batchNorm2d: eval mode needs runningMean and runningVar');
  const a = new Float64Array(C), b = new Float64Array(C), mean = new Float32Array(C), invStd = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const is = 1 / Math.sqrt(rv[c]! + n.opts.eps);
    mean[c] = rm[c]!;
    invStd[c] = is;
    a[c] = n.gamma[c]! * is;
    b[c] = n.beta[c]! - rm[c]! * a[c]!;
  }
  return { a, b, mean, invStd };
}

/** Training mode, after the kernel: mean and invStd from its sums (f64 slots `first`, `first` + 1), running statistics updated in place. */
function trainingStatistics(s: BnSpec, sumsB: number, first: number, n: Norm): { mean: Float32Array; invStd: Float32Array } {
  const { C } = s;
  const m = s.N * s.HW;
  const sums = new Float64Array(heapF32().buffer, sumsB, 4 * C);
  const rm = n.opts.runningMean ?? null, rv = n.opts.runningVar ?? null;
  const mean = new Float32Array(C), invStd = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const mu = sums[4 * c + first]!, m2 = sums[4 * c + first + 1]!;
    mean[c] = mu;
    invStd[c] = 1 / Math.sqrt(m2 / m + n.opts.eps); // the kernel's invStd, computed the same way
    if (rm !== null) rm[c] = (1 - n.opts.momentum) * rm[c]! + n.opts.momentum * mu;
    if (rv !== null) rv[c] = (1 - n.opts.momentum) * rv[c]! + n.opts.momentum * (m > 1 ? m2 / (m - 1) : m2 / m);
  }
  return { mean, invStd };
}

/**
 * The forward passes: `main` normalises x; with `skip`, the output is max(main + skip, 0), skip normalised
 * by `skipNorm` when given. `kind` picks the pass ('' plain, 'Relu', 'AddRelu', 'BnAddRelu').
 */
function forward(
  x: Float32Array, xShape: Shape4, main: Norm, kind: '' | 'Relu' | 'AddRelu' | 'BnAddRelu', skip: Float32Array | null, skipNorm: Norm | null,
): { out: Float32Array; mean: Float32Array; invStd: Float32Array; skipMean: Float32Array | null; skipInvStd: Float32Array | null } {
  const [N, C, H, W] = xShape;
  const s: BnSpec = { N, C, HW: H * W };
  checkLength('x', x, N * C * H * W);
  if (skip) checkLength('skip', skip, x.length);
  for (const n of skipNorm ? [main, skipNorm] : [main])
    if (n.gamma.length !== C || n.beta.length !== C) throw new Error(`batchNorm2d: gamma and beta need ${C} elements`);
  const training = main.opts.training;
  if (training && N * H * W === 0) throw new Error('batchNorm2d: training mode needs at least one value per channel');
  scratch.reset();
  const out = kernelOutput(x.length);
  const xB = kernelInput(x), skipB = skip ? kernelInput(skip) : xB;
  const sums = scratch.alloc(8 * C);
  const b: Buffers = { x: xB, dy: skipB, out: out.byte, sums, consts: sums, mask: xB, params: sums, eps: main.opts.eps, skipEps: skipNorm?.opts.eps };
  let stats: { mean: Float32Array; invStd: Float32Array };
  let skipStats: { mean: Float32Array; invStd: Float32Array } | null = null;
  if (training) {
    // the kernel computes the statistics and constants itself
    b.params = columns(C, [main.gamma, main.beta, skipNorm?.gamma ?? null, skipNorm?.beta ?? null]);
    run(s, `train${kind}`, b);
    stats = trainingStatistics(s, sums, 0, main);
    if (skipNorm) skipStats = trainingStatistics(s, sums, 2, skipNorm);
  } else {
    const e = evalNormalisation(C, main), se = skipNorm ? evalNormalisation(C, skipNorm) : null;
    b.consts = columns(C, [e.a, e.b, se?.a ?? null, se?.b ?? null]);
    run(s, `normalize${kind}`, b);
    stats = e;
    skipStats = se;
  }
  return { out: out.result(), mean: stats.mean, invStd: stats.invStd, skipMean: skipStats?.mean ?? null, skipInvStd: skipStats?.invStd ?? null };
}

/**
 * Forward pass, same contract as the reference `batchNorm2dForward` (running statistics updated in
 * place in training mode). With `relu`, the output is max(y, 0): batch norm and the ReLU after it in one
 * pass (the caller then differentiates through both).
 */
export function batchNorm2dForwardWasm(
  x: Float32Array, xShape: Shape4, gamma: Float32Array, beta: Float32Array, opts: BatchNorm2dOptions, relu = false,
): { out: Float32Array; mean: Float32Array; invStd: Float32Array } {
  const r = forward(x, xShape, { gamma, beta, opts }, relu ? 'Relu' : '', null, null);
  return { out: r.out, mean: r.mean, invStd: r.invStd };
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
  if (skipBn && skipBn.opts.training !== opts.training) throw new Error('batchNorm2d: both batch norms must be in training mode, or both in eval mode');
  return forward(x, xShape, { gamma, beta, opts }, skipBn ? 'BnAddRelu' : 'AddRelu', skip, skipBn);
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
  const dgamma = new Float32Array(C), dbeta = new Float32Array(C);
  // no values: no gradient (and no division by m = 0 in the kernel)
  if (m === 0) return { dx: new Float32Array(0), dgamma, dbeta };
  scratch.reset();
  const out = kernelOutput(x.length);
  const xB = kernelInput(x), dyB = kernelInput(dy);
  const maskB = reluOut === null ? dyB : kernelInput(reluOut);
  const sums = scratch.alloc(8 * C);
  const params = columns(C, [gamma, mean, invStd]);
  run(s, reluOut !== null ? 'backwardRelu' : 'backward', { x: xB, dy: dyB, out: out.byte, sums, consts: sums, mask: maskB, params });
  const sv = new Float64Array(heapF32().buffer, sums, 4 * C);
  for (let c = 0; c < C; c++) {
    dgamma[c] = sv[4 * c + 1]! * invStd[c]!;
    dbeta[c] = sv[4 * c]!;
  }
  return { dx: out.result(), dgamma, dbeta };
}
