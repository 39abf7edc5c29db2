/**
 * 2-D convolution (NCHW, PyTorch semantics) on the generated WebAssembly kernels, float32:
 * forward, input gradient and weight gradient. Each call lays its operands out in the shared memory the
 * way the kernel wants them (zero-padded images, packed weights, transposed dy), runs the kernel for
 * this exact shape over the threads, and returns the result. Inside a step arena (arena.ts) operands
 * are read where they live and results are written into the output tensor's storage; outside one,
 * operands are copied in and results copied out.
 *
 * Everything that depends only on the shape (the kernel module, the weight packing as a gather index)
 * is a *plan*, built on first use and cached under a short key.
 *
 * Same contracts as the JS kernels in ../cpu/conv2d.ts (the readable reference, also the float64 path).
 */
import { geometry, type Conv2dOptions, type Geometry, type Shape4 } from '../js/conv2d.js';
import { getNumThreads } from './threads.js';
import { buildGatherModule, OB, type GatherPass, type GatherSpec } from './gatherConv.js';
import { ARGS_BYTE, codeVariantKey, memoryPassThreads, heapF32, heapI32, kernelModule, newKernelModule, runItems, scratch, setArgs, zeroHeap, type CompiledKernel } from './runtime.js';
import { f32, i32 } from './emitter.js';
import { kernelInput, kernelOutput } from './arena.js';
import { buildPadModule, buildTransposeModule, buildUnpackModule, padKey, transposeKey, unpackKey, type PadSpec, type TransposeSpec, type UnpackSpec } from './layout.js';
import { buildWeightGradModule, channelBlock, DOB, weightGradItems, type WeightGradSpec } from './weightGrad.js';
import { buildWeightGradDotModule, dotChannelBlock, weightGradDotApplies, weightGradDotItems, type WeightGradDotSpec } from './weightGradDot.js';
import { buildPointwiseModule, buildSubsampleModule, pointwiseApplies, pointwiseKey, subsampleItems, type PointwiseSpec, type SubsampleSpec } from './pointwise.js';

/** Below this many FLOPs a convolution runs on one thread (a hand-off costs tens of microseconds)… */
export const WASM_THREAD_MIN_FLOPS = 2e6;
/**
 * …unless it moves at least this many floats: a memory-bound pass (the head's 16→1 at 48×32 reads 3 MB
 * for 1.6 MFLOP) is worth sharing although its FLOPs are few.
 */
const MEMORY_THREAD_MIN_FLOATS = 1 << 19;

export function threadsFor(flops: number, floatsMoved = 0): number {
  return flops < WASM_THREAD_MIN_FLOPS && floatsMoved < MEMORY_THREAD_MIN_FLOATS ? 1 : getNumThreads();
}

function geometryKey(g: Geometry): string {
  return `${g.N},${g.C},${g.H},${g.W},${g.O},${g.KH},${g.KW},${g.s},${g.p}`;
}

function checkDy(g: Geometry, dyShape: Shape4): void {
  const { N, O, HO, WO } = g;
  if (dyShape[0] !== N || dyShape[1] !== O || dyShape[2] !== HO || dyShape[3] !== WO) {
    throw new Error(`conv2d: dy shape [${dyShape.join(', ')}] does not match the output [${N}, ${O}, ${HO}, ${WO}]`);
  }
}

/**
 * The planes [count][H][W] of `src` as [count][Hp][Wp] in the memory, each plane at (top, left) with
 * zeros around it; returns the byte offset. `src` is read in place when it lives in the memory (a step
 * arena's tensor), else copied in first; without padding it is used as it is. The pad kernel runs over
 * the threads (`perItem` planes per work item).
 */
export function padIntoScratch(src: Float32Array, count: number, perItem: number, H: number, W: number, Hp: number, Wp: number, top: number, left: number): number {
  const raw = kernelInput(src.subarray(0, count * H * W));
  if (Hp === H && Wp === W) return raw;
  const dst = scratch.alloc(count * Hp * Wp);
  const spec: PadSpec = { planesPerItem: perItem, H, W, Hp, Wp, top, left };
  const kernel = kernelModule(padKey(spec), () => buildPadModule(spec));
  setArgs([raw, dst]);
  runItems(kernel, 'item', ARGS_BYTE, count / perItem, memoryPassThreads(count * Hp * Wp));
  return dst;
}

/** Writes values built in ordinary memory into scratch (one memcpy); returns the byte offset. */
function toScratch(values: Float32Array | Int32Array): number {
  const at = scratch.alloc(values.length);
  if (values instanceof Int32Array) heapI32().set(values, at / 4);
  else heapF32().set(values, at / 4);
  return at;
}

let gatherKernel: ((dst: number, src: number, index: number, n: number) => void) | null = null;

/**
 * packed[i] = w[index[i]] (0 where index[i] < 0): weight packing as a cached gather, into scratch. The
 * weights and the index table are copied in (two memcpys) and a generated loop gathers: the same loop in
 * JavaScript took ~4 ms of each training step (a million weights packed twice a step).
 */
function packIntoScratch(w: Float32Array, index: Int32Array): number {
  if (gatherKernel === null) {
    const k = kernelModule('pack-gather', () => {
      const m = newKernelModule();
      m.function('gather', [['dst', 'i32'], ['src', 'i32'], ['index', 'i32'], ['n', 'i32']], (f, dst, src, idx, n) => {
        const end = f.local('i32', 'end'), j = f.local('i32', 'j');
        f.set(end, i32.add(dst!, i32.shl(n!, i32.const(2))));
        f.forRange(dst!, dst!, end, 4, () => {
          f.set(j, i32.load(idx!));
          // j < 0: a padding lane, zero
          f.do(f32.store(dst!, f32.select(f32.load(i32.add(src!, i32.shl(j, i32.const(2)))), f32.const(0), i32.ge_s(j, i32.const(0)))));
          f.set(idx!, i32.add(idx!, i32.const(4)));
        });
      });
      return m;
    });
    gatherKernel = k.instance.exports.gather as (dst: number, src: number, index: number, n: number) => void;
  }
  const wB = toScratch(w);
  const indexB = toScratch(index);
  const packed = scratch.alloc(index.length);
  gatherKernel(packed, wB, indexB, index.length);
  return packed;
}

/** A gather-convolution plan: kernel and weight packing. */
interface GatherPlan {
  kernel: CompiledKernel;
  packIndex: Int32Array;
  /** Padding of the source planes. */
  Hp: number; Wp: number; top: number; left: number;
}

const plans = new Map<string, GatherPlan>();

function forwardPlan(g: Geometry, bias: boolean, relu: boolean): GatherPlan {
  const key = `fwd:${geometryKey(g)}:${bias}:${relu}`;
  let plan = plans.get(codeVariantKey(key));
  if (plan !== undefined) return plan;
  const { C, H, W, O, KH, KW, s, p, HO, WO } = g;
  const Hp = H + 2 * p, Wp = W + 2 * p, T = KH * KW;
  // With one input channel (the stem) the kernel's channel loop would run once per tap; instead the taps of
  // a kernel row are its "channels" (source stride one column), so a 3×3 kernel is 3 loops of 3, not 9 of 1.
  // Same products, same order (kh, then kw), same bits. Measured on the stem in alternating runs: one thread
  // unchanged (20–21 GFLOP/s: the loops were not what holds it back), two 40–44 against 35–39.
  const rowsAsTaps = C === 1 && KW > 1;
  const taps: number[] = [];
  if (rowsAsTaps) for (let kh = 0; kh < KH; kh++) taps.push(kh * Wp);
  else for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) taps.push(kh * Wp + kw);
  const pass: GatherPass = {
    rows: HO, cols: WO, srcOrigin: 0, srcRowStride: s * Wp, srcColStride: s, taps,
    outOrigin: 0, outRowStride: WO, outColStride: 1, weightOffset: 0,
  };
  const spec: GatherSpec = rowsAsTaps
    ? { C: KW, srcChanStride: 1, srcImageStride: Hp * Wp, O, outChanStride: HO * WO, outImageStride: O * HO * WO, bias, relu, passes: [pass] }
    : { C, srcChanStride: Hp * Wp, srcImageStride: C * Hp * Wp, O, outChanStride: HO * WO, outImageStride: O * HO * WO, bias, relu, passes: [pass] };
  // packed[ob][t][c][lane] = w[ob·OB + lane][c][t]
  const OBn = Math.ceil(O / OB);
  const packIndex = new Int32Array(OBn * C * T * OB);
  let at = 0;
  for (let ob = 0; ob < OBn; ob++) {
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++) {
        for (let l = 0; l < OB; l++) {
          const o = ob * OB + l;
          packIndex[at++] = o < O ? (o * C + c) * T + t : -1;
        }
      }
    }
  }
  plan = { kernel: kernelModule(key, () => buildGatherModule(spec)), packIndex, Hp, Wp, top: p, left: p };
  plans.set(codeVariantKey(key), plan);
  return plan;
}

/**
 * The input gradient as gather convolutions, one pass per phase (rh, rw) of the stride: the input
 * positions (s·i + rh, s·j + rw) receive tap (kh, kw) from dy[i + dh, j + dw] with dh = (rh + p − kh)/s
 * whenever that is an integer. Stride 1 has one phase and every tap (the flipped kernel).
 */
function inputGradPlan(g: Geometry): GatherPlan {
  const key = `dx:${geometryKey(g)}`;
  let plan = plans.get(codeVariantKey(key));
  if (plan !== undefined) return plan;
  const { C, H, W, O, KH, KW, s, p, HO, WO } = g;
  interface Phase { rh: number; rw: number; rows: number; cols: number; taps: { kh: number; kw: number; dh: number; dw: number }[] }
  const phases: Phase[] = [];
  for (let rh = 0; rh < Math.min(s, H); rh++) {
    for (let rw = 0; rw < Math.min(s, W); rw++) {
      const taps: Phase['taps'] = [];
      for (let kh = 0; kh < KH; kh++) {
        if ((((rh + p - kh) % s) + s) % s !== 0) continue;
        for (let kw = 0; kw < KW; kw++) {
          if ((((rw + p - kw) % s) + s) % s !== 0) continue;
          taps.push({ kh, kw, dh: (rh + p - kh) / s, dw: (rw + p - kw) / s });
        }
      }
      phases.push({ rh, rw, rows: Math.ceil((H - rh) / s), cols: Math.ceil((W - rw) / s), taps });
    }
  }
  // dy is zero-padded so that every tap of every phase reads inside the buffer
  let top = 0, bottom = 0, left = 0, right = 0;
  for (const ph of phases) {
    for (const t of ph.taps) {
      top = Math.max(top, -t.dh);
      left = Math.max(left, -t.dw);
      bottom = Math.max(bottom, ph.rows - 1 + t.dh - (HO - 1));
      right = Math.max(right, ph.cols - 1 + t.dw - (WO - 1));
    }
  }
  const Hdp = HO + top + bottom, Wdp = WO + left + right;
  const CBn = Math.ceil(C / OB);
  const index: number[] = [];
  const passes: GatherPass[] = phases.map((ph) => {
    const mdh = Math.min(0, ...ph.taps.map((t) => t.dh));
    const mdw = Math.min(0, ...ph.taps.map((t) => t.dw));
    const pass: GatherPass = {
      rows: ph.rows, cols: ph.cols,
      srcOrigin: (top + mdh) * Wdp + (left + mdw), srcRowStride: Wdp, srcColStride: 1,
      taps: ph.taps.map((t) => (t.dh - mdh) * Wdp + (t.dw - mdw)),
      outOrigin: ph.rh * W + ph.rw, outRowStride: s * W, outColStride: s, weightOffset: index.length,
    };
    // packed[cb][t][o][lane] = w[o][cb·OB + lane][kh_t][kw_t]
    for (let cb = 0; cb < CBn; cb++) {
      for (const t of ph.taps) {
        for (let o = 0; o < O; o++) {
          for (let l = 0; l < OB; l++) {
            const c = cb * OB + l;
            index.push(c < C ? ((o * C + c) * KH + t.kh) * KW + t.kw : -1);
          }
        }
      }
    }
    return pass;
  });
  const spec: GatherSpec = {
    C: O, srcChanStride: Hdp * Wdp, srcImageStride: O * Hdp * Wdp,
    O: C, outChanStride: H * W, outImageStride: C * H * W, bias: false, passes,
  };
  plan = {
    kernel: kernelModule(key, () => buildGatherModule(spec)),
    packIndex: Int32Array.from(index.length > 0 ? index : [-1]), Hp: Hdp, Wp: Wdp, top, left,
  };
  plans.set(codeVariantKey(key), plan);
  return plan;
}

/** The subsampled input of a stride-2 1×1 convolution, [N·C][HO][WO] in scratch (or x itself at stride 1). */
function subsampledInput(g: Geometry, x: Float32Array): number {
  const { N, C, H, W, HO, WO, s } = g;
  const raw = kernelInput(x.subarray(0, N * C * H * W));
  if (s === 1) return raw;
  const spec: SubsampleSpec = { planes: N * C, H, W, HO, WO };
  const dst = scratch.alloc(N * C * HO * WO);
  setArgs([raw, dst]);
  runItems(kernelModule(`subsample:${JSON.stringify(spec)}`, () => buildSubsampleModule(spec)), 'subsample', ARGS_BYTE, subsampleItems(spec),
    memoryPassThreads(N * C * HO * WO));
  return dst;
}

/** out[n][o][q] = bias[o] + Σ_c w[o][c] · src[n][c][q] on the pointwise kernel (pointwise.ts). */
function runPointwise(spec: PointwiseSpec, N: number, srcB: number, w: Float32Array, bias: Float32Array | null, outB: number): void {
  const wB = toScratch(w.subarray(0, spec.O * spec.C));
  const biasB = bias === null ? 0 : toScratch(bias.subarray(0, spec.O));
  setArgs([srcB, wB, outB, biasB]);
  runItems(kernelModule(pointwiseKey(spec), () => buildPointwiseModule(spec)), 'image', ARGS_BYTE, N,
    threadsFor(2 * N * spec.O * spec.P * spec.C, N * (spec.C + spec.O) * spec.P));
}

/** y = conv2d(x, w) + bias → [N, O, HO, WO] (float32); with `relu`, max(y, 0) in the same pass. */
export function conv2dForwardWasm(
  x: Float32Array, xShape: Shape4, w: Float32Array, wShape: Shape4, bias: Float32Array | null, opts: Conv2dOptions, relu = false,
): { out: Float32Array; outShape: Shape4 } {
  const g = geometry(xShape, wShape, opts);
  const { N, C, H, W, O, KH, KW, HO, WO } = g;
  const outShape: Shape4 = [N, O, HO, WO];
  const outLen = N * O * HO * WO;
  if (outLen === 0) return { out: new Float32Array(0), outShape };
  if (pointwiseApplies(KH, KW, g.p, g.s, HO, WO)) {
    scratch.reset();
    const out = kernelOutput(outLen);
    const xsB = subsampledInput(g, x);
    runPointwise({ C, O, P: HO * WO, bias: bias !== null, relu }, N, xsB, w, bias, out.byte);
    return { out: out.result(), outShape };
  }
  const plan = forwardPlan(g, bias !== null, relu);
  scratch.reset();
  const out = kernelOutput(outLen);
  const srcB = padIntoScratch(x, N * C, C, H, W, plan.Hp, plan.Wp, plan.top, plan.left);
  const wB = packIntoScratch(w, plan.packIndex);
  const paddedBias = new Float32Array(Math.ceil(O / OB) * OB);
  if (bias !== null) paddedBias.set(bias);
  const biasB = toScratch(paddedBias);
  setArgs([srcB, wB, out.byte, biasB]);
  runItems(plan.kernel, 'image', ARGS_BYTE, N, threadsFor(2 * outLen * C * KH * KW));
  return { out: out.result(), outShape };
}

/** dL/dx of y = conv2d(x, w): dy [N, O, HO, WO], w → dx [N, C, H, W] (float32). */
export function conv2dBackwardInputWasm(
  dy: Float32Array, dyShape: Shape4, w: Float32Array, wShape: Shape4, xShape: Shape4, opts: Conv2dOptions,
): Float32Array {
  const g = geometry(xShape, wShape, opts);
  checkDy(g, dyShape);
  const { N, C, H, W, O, KH, KW, HO, WO } = g;
  const dxLen = N * C * H * W;
  if (dxLen === 0) return new Float32Array(0);
  if (pointwiseApplies(KH, KW, g.p, g.s, HO, WO) && g.s === 1) {
    // dx is the pointwise product with the weights transposed. (At stride 2 the product on the subsampled
    // grid then scattered back with zeros measured slower, 20–21 against 26 GFLOP/s for 16→32 at 48×32,
    // than the gather kernel's stride phases: that case stays there.)
    scratch.reset();
    const out = kernelOutput(dxLen);
    const wT = new Float32Array(C * O);
    for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) wT[c * O + o] = w[o * C + c]!;
    const dyB = kernelInput(dy.subarray(0, N * O * HO * WO));
    runPointwise({ C: O, O: C, P: HO * WO, bias: false, relu: false }, N, dyB, wT, null, out.byte);
    return out.result();
  }
  const plan = inputGradPlan(g);
  scratch.reset();
  const out = kernelOutput(dxLen);
  const srcB = padIntoScratch(dy, N * O, O, HO, WO, plan.Hp, plan.Wp, plan.top, plan.left);
  const wB = packIntoScratch(w, plan.packIndex);
  setArgs([srcB, wB, out.byte, 0]);
  runItems(plan.kernel, 'image', ARGS_BYTE, N, threadsFor(2 * N * O * HO * WO * C * KH * KW));
  return out.result();
}

interface WeightGradPlan {
  kernel: CompiledKernel;
  transpose: CompiledKernel;
  items: number;
  /** dwp[ob][c][t][lane] → dw[o][c][t] */
  unpack: CompiledKernel;
  packedLength: number;
  Opad: number;
}

const weightPlans = new Map<string, WeightGradPlan>();

function weightGradPlan(g: Geometry): WeightGradPlan {
  const key = `dw:${geometryKey(g)}`;
  let plan = weightPlans.get(codeVariantKey(key));
  if (plan !== undefined) return plan;
  const { N, C, H, W, O, KH, KW, s, p, HO, WO } = g;
  const Hp = H + 2 * p, Wp = W + 2 * p, T = KH * KW;
  const taps: number[] = [];
  for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) taps.push(kh * Wp + kw);
  const spec: WeightGradSpec = { N, C, O, Hp, Wp, HO, WO, s, taps, CB: channelBlock(C, T) };
  const OBn = Math.ceil(O / DOB);
  const Opad = OBn * DOB;
  const tspec: TransposeSpec = { O, P: HO * WO, Opad };
  // dwp[ob][c][t][lane] holds dw[ob·DOB + lane][c][t]
  const uspec: UnpackSpec = { O, J: C * T, lanes: DOB };
  plan = {
    kernel: kernelModule(key, () => buildWeightGradModule(spec)),
    transpose: kernelModule(transposeKey(tspec), () => buildTransposeModule(tspec)),
    unpack: kernelModule(unpackKey(uspec), () => buildUnpackModule(uspec)),
    items: weightGradItems(spec), packedLength: OBn * C * T * DOB, Opad,
  };
  weightPlans.set(codeVariantKey(key), plan);
  return plan;
}

const dotPlans = new Map<string, { kernel: CompiledKernel; items: number }>();

/**
 * The weight gradient on the dot-product kernel (weightGradDot.ts), from dy and the input laid out by
 * `input` (which writes it into scratch, or returns where it already is) with the geometry of `spec`.
 */
function runWeightGradDot(key: string, spec: () => WeightGradDotSpec, g: Geometry, dy: Float32Array, input: () => number): Float32Array {
  const { N, C, O, HO, WO } = g;
  const T = g.KH * g.KW;
  let plan = dotPlans.get(codeVariantKey(key));
  if (plan === undefined) {
    const s = spec();
    plan = { kernel: kernelModule(key, () => buildWeightGradDotModule(s)), items: weightGradDotItems(s) };
    dotPlans.set(codeVariantKey(key), plan);
  }
  scratch.reset();
  const dw = kernelOutput(O * C * T);
  const xB = input();
  const dyB = kernelInput(dy.subarray(0, N * O * HO * WO));
  setArgs([xB, dyB, dw.byte]);
  runItems(plan.kernel, 'item', ARGS_BYTE, plan.items, threadsFor(2 * N * O * HO * WO * C * T, N * (O + C) * HO * WO));
  // inside a step arena a block of it, as every other result (a leaf's .grad is a copy: autograd)
  return dw.result();
}

/** The weight gradient of a 1×1 convolution: dot products over positions of dy and the subsampled input. */
function pointwiseWeightGrad(g: Geometry, dy: Float32Array, x: Float32Array): Float32Array {
  const { N, C, O, HO, WO } = g;
  return runWeightGradDot(`pwdw:${geometryKey(g)}`, () => ({ N, C, O, Hp: HO, Wp: WO, HO, WO, taps: [0], CB: dotChannelBlock(C, O, 1) }),
    g, dy, () => subsampledInput(g, x));
}

/** The weight gradient as dot products over positions (weightGradDot.ts: stride 1, few channels). */
function weightGradDot(g: Geometry, dy: Float32Array, x: Float32Array): Float32Array {
  const { N, C, H, W, O, KH, KW, p, HO, WO } = g;
  const Hp = H + 2 * p, Wp = W + 2 * p;
  const spec = (): WeightGradDotSpec => {
    const taps: number[] = [];
    for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) taps.push(kh * Wp + kw);
    return { N, C, O, Hp, Wp, HO, WO, taps, CB: dotChannelBlock(C, O, KH * KW) };
  };
  return runWeightGradDot(`dwdot:${geometryKey(g)}`, spec, g, dy, () => padIntoScratch(x, N * C, C, H, W, Hp, Wp, p, p));
}

/** dL/dw of y = conv2d(x, w): dy [N, O, HO, WO], x [N, C, H, W] → dw [O, C, KH, KW] (float32), summed over the batch. */
export function conv2dBackwardWeightWasm(
  dy: Float32Array, dyShape: Shape4, x: Float32Array, xShape: Shape4, wShape: Shape4, opts: Conv2dOptions,
): Float32Array {
  const g = geometry(xShape, wShape, opts);
  checkDy(g, dyShape);
  const { N, C, H, W, O, KH, KW, p, HO, WO } = g;
  const T = KH * KW;
  if (N === 0 || O === 0 || C === 0) return new Float32Array(O * C * T);
  if (weightGradDotApplies(g.s, WO, C, O)) return weightGradDot(g, dy, x);
  if (pointwiseApplies(KH, KW, p, g.s, HO, WO) && WO % 4 === 0) return pointwiseWeightGrad(g, dy, x);
  const plan = weightGradPlan(g);
  const P = HO * WO;
  scratch.reset();
  const dw = kernelOutput(O * C * T);
  const xB = padIntoScratch(x, N * C, C, H, W, H + 2 * p, W + 2 * p, p, p);
  // dyT[n][q][o] = dy[n][o][q], lanes o ≥ O zero
  const dyRaw = kernelInput(dy.subarray(0, N * O * P));
  const dyB = scratch.alloc(N * P * plan.Opad);
  setArgs([dyRaw, dyB]);
  runItems(plan.transpose, 'item', ARGS_BYTE, N, memoryPassThreads(N * P * plan.Opad));
  const dwB = scratch.alloc(plan.packedLength);
  zeroHeap(dwB, plan.packedLength);
  setArgs([xB, dyB, dwB]);
  runItems(plan.kernel, 'item', ARGS_BYTE, plan.items, threadsFor(2 * N * O * P * C * T));
  setArgs([dwB, dw.byte]);
  runItems(plan.unpack, 'item', ARGS_BYTE, O, 1);
  // inside a step arena a block of it, as every other result (a leaf's .grad is a copy: autograd)
  return dw.result();
}
