/**
 * 2-D convolution (cross-correlation, PyTorch semantics) over NCHW typed arrays.
 *
 * Forward: implicit GEMM per image — the image is copied once into a zero-padded float64 buffer and
 * the 8×8 register-tiled micro-kernels (kernels.ts) read the taps straight from it, computing
 * 8 output channels × 8 output positions per call against the packed weights W[O, C·KH·KW]
 * (no im2col matrix is materialised).
 * Input gradient: for stride 1 (and padding ≤ kernel−1) it is a forward convolution of dy with the
 * flipped, transposed kernel and padding KH−1−p, i.e. the same fast path; otherwise
 * GEMM W^T·dy + col2im.
 * Weight gradient: dy_n[O,P] · cols_n^T with the taps again read from the padded image,
 * accumulated over the batch in float64.
 * Threads: when the batch has ≥ 2 images and the convolution is large enough to pay for the
 * hand-off, images are handed out dynamically to the main thread and the pool's workers.
 */
import {
  convBwdInGemmDyn, convBwdInputGemmImages, convBwdWDyn, convBwdWeightImages, convFwdDyn, convFwdImages, packA, wsBuf,
} from './kernels.js';
import type { F, KernelJob } from './kernels.js';
import { mainWorkspace } from './gemm.js';
import { availableWorkers, countWorkerItems, runParallel, sharedF64, sharedI32, sharedLike, toShared } from './threadPool.js';

export type Shape4 = [number, number, number, number];

export interface Conv2dOptions {
  stride: number;
  padding: number;
}

/** Minimum FLOPs (2·N·O·HO·WO·C·KH·KW) before a convolution is split over threads (measured break-even ≈ 1.2 MFLOP on 2 cores). */
export const CONV_THREAD_MIN_FLOPS = 1.5e6;

function allocLike(like: F, n: number): F {
  return like instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
}

function checkShape(name: string, s: readonly number[]): void {
  if (s.length !== 4 || s.some((v) => !Number.isInteger(v) || v < 0)) {
    throw new Error(`conv2d: ${name} must be 4 non-negative integers, got [${s.join(', ')}]`);
  }
}

function checkLen(name: string, a: F, s: readonly number[]): void {
  const n = s.reduce((p, v) => p * v, 1);
  if (a.length !== n) throw new Error(`conv2d: ${name} has ${a.length} elements, shape [${s.join(', ')}] needs ${n}`);
}

export interface Geometry {
  N: number; C: number; H: number; W: number;
  O: number; KH: number; KW: number;
  s: number; p: number; HO: number; WO: number;
}

export function geometry(xShape: Shape4, wShape: Shape4, opts: Conv2dOptions): Geometry {
  checkShape('xShape', xShape);
  checkShape('wShape', wShape);
  const [N, C, H, W] = xShape;
  const [O, Cw, KH, KW] = wShape;
  const s = opts.stride;
  const p = opts.padding;
  if (!Number.isInteger(s) || s < 1) throw new Error(`conv2d: stride must be an integer ≥ 1, got ${s}`);
  if (!Number.isInteger(p) || p < 0) throw new Error(`conv2d: padding must be an integer ≥ 0, got ${p}`);
  if (Cw !== C) throw new Error(`conv2d: weight has ${Cw} input channels, input has ${C}`);
  if (KH < 1 || KW < 1) throw new Error('conv2d: kernel must be at least 1×1');
  const HO = Math.floor((H + 2 * p - KH) / s) + 1;
  const WO = Math.floor((W + 2 * p - KW) / s) + 1;
  if (HO < 1 || WO < 1) throw new Error(`conv2d: kernel ${KH}×${KW} larger than padded input ${H + 2 * p}×${W + 2 * p}`);
  return { N, C, H, W, O, KH, KW, s, p, HO, WO };
}

/** How many threads to use for a batch of n images and this many FLOPs (1 = main thread only). */
function threadsFor(n: number, flops: number): number {
  if (n < 2 || flops < CONV_THREAD_MIN_FLOPS) return 1;
  return 1 + Math.min(availableWorkers(), n - 1);
}

/** Output spatial size of a convolution. */
export function conv2dOutputShape(xShape: Shape4, wShape: Shape4, opts: Conv2dOptions): Shape4 {
  const g = geometry(xShape, wShape, opts);
  return [g.N, g.O, g.HO, g.WO];
}

/**
 * Runs the forward kernel over a batch; `wpack` fills the packed weights (wpLen elements).
 * Shared by the forward pass and the stride-1 input gradient.
 */
function runFwd(
  x: F, N: number, C: number, H: number, W: number,
  wpack: (dst: Float64Array) => void, wpLen: number,
  O: number, KH: number, KW: number, s: number, ph: number, pw: number, HO: number, WO: number,
  bias: F | null, out: F, T: number,
): void {
  const CHW = C * H * W;
  const OP = O * HO * WO;
  if (T <= 1) {
    const wp = wsBuf(mainWorkspace, 'conv.wp', wpLen);
    wpack(wp);
    convFwdImages(x, 0, N, C, H, W, wp, O, KH, KW, s, ph, pw, HO, WO, bias, out, 0, mainWorkspace);
    return;
  }
  // Threaded: images are handed out dynamically (shared counter). The main thread reads x and
  // writes `out` directly; workers read a shared copy of x and write shared scratch, copied back
  // for the images they produced.
  const wp = sharedF64('wpack', wpLen);
  wpack(wp);
  const biasS = bias === null ? null : toShared(bias, 0, O, 'bias').buf;
  const xs = toShared(x, 0, N * CHW, 'in1').buf;
  const outS = sharedLike(out, 'out', N * OP);
  const { ctr, who } = schedule(N);
  const jobs: KernelJob[] = [];
  for (let t = 1; t < T; t++) {
    jobs.push({
      op: 'fwd', x: xs, count: N, C, H, W, wp, O, KH, KW, s, ph, pw, HO, WO, bias: biasS, out: outS, ctr, who, me: t,
    });
  }
  runParallel(jobs, () => {
    convFwdDyn(x, N, C, H, W, wp, O, KH, KW, s, ph, pw, HO, WO, bias, out, ctr, who, 0, mainWorkspace);
  });
  copyBack(who, N, OP, outS, out);
}

/** Shared work counter (reset to 0) and per-item producer flags (cleared) for n items. */
function schedule(n: number): { ctr: Int32Array; who: Int32Array } {
  const ctr = sharedI32('sched.ctr', 1);
  const who = sharedI32('sched.who', n);
  Atomics.store(ctr, 0, 0);
  who.fill(0, 0, n);
  return { ctr, who };
}

/** Copies the items produced by workers (who[i] ≠ 0, `len` elements each) from shared scratch. */
function copyBack(who: Int32Array, n: number, len: number, src: F, dst: F): void {
  countWorkerItems(who, n);
  for (let i = 0; i < n; i++) {
    if (who[i] !== 0) dst.set(src.subarray(i * len, (i + 1) * len), i * len);
  }
}

/**
 * y = conv2d(x, w) + bias. x: [N,C,H,W], w: [O,C,KH,KW], bias: [O] or null.
 * Returns the output [N,O,HO,WO] in x's dtype.
 */
export function conv2dForward(
  x: F, xShape: Shape4, w: F, wShape: Shape4, bias: F | null, opts: Conv2dOptions,
): { out: F; outShape: Shape4 } {
  const g = geometry(xShape, wShape, opts);
  checkLen('x', x, xShape);
  checkLen('w', w, wShape);
  if (bias !== null && bias.length !== g.O) throw new Error(`conv2d: bias has ${bias.length} elements, expected ${g.O}`);
  const { N, C, H, W, O, KH, KW, s, p, HO, WO } = g;
  const out = allocLike(x, N * O * HO * WO);
  const outShape: Shape4 = [N, O, HO, WO];
  if (N === 0 || O === 0) return { out, outShape };
  const K = C * KH * KW;
  const flops = 2 * N * O * HO * WO * K;
  const T = threadsFor(N, flops);
  const wpLen = (((O + 7) >> 3) << 3) * K;
  runFwd(x, N, C, H, W, (dst) => packA(w, 0, K, 1, O, K, dst), wpLen, O, KH, KW, s, p, p, HO, WO, bias, out, T);
  return { out, outShape };
}

/** Packs the flipped, transposed kernel Wt[c, (o,kh,kw)] = w[o, c, KH-1-kh, KW-1-kw] into 8-row panels. */
function packFlippedTransposed(w: F, O: number, C: number, KH: number, KW: number, dst: Float64Array): void {
  const K2 = O * KH * KW;
  const tmp = wsBuf(mainWorkspace, 'conv.wflip', C * K2);
  for (let c = 0; c < C; c++) {
    for (let o = 0; o < O; o++) {
      for (let kh = 0; kh < KH; kh++) {
        for (let kw = 0; kw < KW; kw++) {
          tmp[c * K2 + (o * KH + kh) * KW + kw] = w[((o * C + c) * KH + (KH - 1 - kh)) * KW + (KW - 1 - kw)]!;
        }
      }
    }
  }
  packA(tmp, 0, K2, 1, C, K2, dst);
}

/**
 * dL/dx of y = conv2d(x, w): dy [N,O,HO,WO], w [O,C,KH,KW] → dx [N,C,H,W] (dy's dtype).
 */
export function conv2dBackwardInput(
  dy: F, dyShape: Shape4, w: F, wShape: Shape4, xShape: Shape4, opts: Conv2dOptions,
): F {
  const g = geometry(xShape, wShape, opts);
  const { N, C, H, W, O, KH, KW, s, p, HO, WO } = g;
  checkShape('dyShape', dyShape);
  if (dyShape[0] !== N || dyShape[1] !== O || dyShape[2] !== HO || dyShape[3] !== WO) {
    throw new Error(`conv2d: dy shape [${dyShape.join(', ')}] does not match the output [${N}, ${O}, ${HO}, ${WO}]`);
  }
  checkLen('dy', dy, dyShape);
  checkLen('w', w, wShape);
  const dx = allocLike(dy, N * C * H * W);
  if (N === 0 || C === 0 || O === 0) return dx;
  const K = C * KH * KW;
  const flops = 2 * N * O * HO * WO * K;
  const T = threadsFor(N, flops);
  if (s === 1 && p <= KH - 1 && p <= KW - 1) {
    // dx = conv(dy, flip(w)^T, padding K-1-p), stride 1: output is exactly H×W.
    const K2 = O * KH * KW;
    const wpLen = (((C + 7) >> 3) << 3) * K2;
    runFwd(dy, N, O, HO, WO, (dst) => packFlippedTransposed(w, O, C, KH, KW, dst), wpLen,
      C, KH, KW, 1, KH - 1 - p, KW - 1 - p, H, W, null, dx, T);
    return dx;
  }
  // General: cols = W^T · dy, col2im. W^T as A: rows k (C·KH·KW), inner dimension O.
  const wtLen = (((K + 7) >> 3) << 3) * O;
  const OP = O * HO * WO;
  const CHW = C * H * W;
  if (T <= 1) {
    const wtp = wsBuf(mainWorkspace, 'conv.wtp', wtLen);
    packA(w, 0, 1, K, K, O, wtp);
    convBwdInputGemmImages(dy, 0, N, O, HO, WO, wtp, C, H, W, KH, KW, s, p, p, dx, 0, mainWorkspace);
    return dx;
  }
  const wtp = sharedF64('wpack', wtLen);
  packA(w, 0, 1, K, K, O, wtp);
  const dys = toShared(dy, 0, N * OP, 'in1').buf;
  const dxs = sharedLike(dx, 'out', N * CHW);
  const { ctr, who } = schedule(N);
  const jobs: KernelJob[] = [];
  for (let t = 1; t < T; t++) {
    jobs.push({
      op: 'bwdInGemm', dy: dys, count: N, O, HO, WO, wtp, C, H, W, KH, KW, s, ph: p, pw: p, dx: dxs, ctr, who, me: t,
    });
  }
  runParallel(jobs, () => {
    convBwdInGemmDyn(dy, N, O, HO, WO, wtp, C, H, W, KH, KW, s, p, p, dx, ctr, who, 0, mainWorkspace);
  });
  copyBack(who, N, CHW, dxs, dx);
  return dx;
}

/**
 * dL/dw of y = conv2d(x, w): dy [N,O,HO,WO], x [N,C,H,W] → dw [O,C,KH,KW] (x's dtype),
 * summed over the batch (accumulated in float64).
 */
export function conv2dBackwardWeight(
  dy: F, dyShape: Shape4, x: F, xShape: Shape4, wShape: Shape4, opts: Conv2dOptions,
): F {
  const g = geometry(xShape, wShape, opts);
  const { N, C, H, W, O, KH, KW, s, p, HO, WO } = g;
  checkShape('dyShape', dyShape);
  if (dyShape[0] !== N || dyShape[1] !== O || dyShape[2] !== HO || dyShape[3] !== WO) {
    throw new Error(`conv2d: dy shape [${dyShape.join(', ')}] does not match the output [${N}, ${O}, ${HO}, ${WO}]`);
  }
  checkLen('dy', dy, dyShape);
  checkLen('x', x, xShape);
  const K = C * KH * KW;
  const dw = allocLike(x, O * K);
  if (N === 0 || O === 0 || K === 0) return dw;
  const flops = 2 * N * O * HO * WO * K;
  const T = threadsFor(N, flops);
  const acc = wsBuf(mainWorkspace, 'conv.dwacc', O * K);
  acc.fill(0, 0, O * K);
  if (T <= 1) {
    convBwdWeightImages(dy, 0, N, O, HO, WO, x, 0, C, H, W, KH, KW, s, p, p, acc, mainWorkspace);
  } else {
    // Each thread accumulates the images it takes into its own float64 accumulator; they are
    // summed at the end (the split of images between threads varies, so the last bits can too).
    const OP = O * HO * WO;
    const CHW = C * H * W;
    const dys = toShared(dy, 0, N * OP, 'in1').buf;
    const xs = toShared(x, 0, N * CHW, 'in2').buf;
    const { ctr, who } = schedule(N);
    const jobs: KernelJob[] = [];
    const accs: Float64Array[] = [];
    for (let t = 1; t < T; t++) {
      const a = sharedF64(`acc${t}`, O * K);
      a.fill(0, 0, O * K);
      jobs.push({
        op: 'bwdW', dy: dys, count: N, O, HO, WO, x: xs, C, H, W, KH, KW, s, ph: p, pw: p, dw: a, ctr, who, me: t,
      });
      accs.push(a);
    }
    runParallel(jobs, () => {
      convBwdWDyn(dy, N, O, HO, WO, x, C, H, W, KH, KW, s, p, p, acc, ctr, who, 0, mainWorkspace);
    });
    countWorkerItems(who, N);
    for (const a of accs) for (let i = 0; i < O * K; i++) acc[i] = acc[i]! + a[i]!;
  }
  for (let i = 0; i < O * K; i++) dw[i] = acc[i]!;
  return dw;
}

/** dL/dbias: sum of dy [N,O,HO,WO] over N, HO, WO → [O] (dy's dtype, float64 accumulation). */
export function conv2dBackwardBias(dy: F, dyShape: Shape4): F {
  checkShape('dyShape', dyShape);
  checkLen('dy', dy, dyShape);
  const [N, O, HO, WO] = dyShape;
  const P = HO * WO;
  const db = allocLike(dy, O);
  for (let o = 0; o < O; o++) {
    let s = 0;
    for (let n = 0; n < N; n++) {
      let i = (n * O + o) * P;
      const e = i + P;
      for (; i < e; i++) s += dy[i]!;
    }
    db[o] = s;
  }
  return db;
}

/** The straightforward 7-loop convolution (float64 accumulation): reference for tests and benchmarks. */
export function conv2dNaive(
  x: F, xShape: Shape4, w: F, wShape: Shape4, bias: F | null, opts: Conv2dOptions,
): { out: F; outShape: Shape4 } {
  const { N, C, H, W, O, KH, KW, s, p, HO, WO } = geometry(xShape, wShape, opts);
  const out = allocLike(x, N * O * HO * WO);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      for (let oh = 0; oh < HO; oh++) {
        for (let ow = 0; ow < WO; ow++) {
          let acc = bias === null ? 0 : bias[o]!;
          for (let c = 0; c < C; c++) {
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * s - p + kh;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * s - p + kw;
                if (iw < 0 || iw >= W) continue;
                acc += x[((n * C + c) * H + ih) * W + iw]! * w[((o * C + c) * KH + kh) * KW + kw]!;
              }
            }
          }
          out[((n * O + o) * HO + oh) * WO + ow] = acc;
        }
      }
    }
  }
  return { out, outShape: [N, O, HO, WO] };
}
