/**
 * 2-D convolution (NCHW, PyTorch semantics) on the generated WebAssembly kernels, float32:
 * forward, input gradient and weight gradient. Each call copies its operands into the shared memory in
 * the layout the kernel wants (zero-padded images, packed weights, transposed dy), runs the kernel for
 * this exact shape (generated on first use, then cached) over the threads, and copies the result out.
 *
 * Same contracts as the JS kernels in ../cpu/conv2d.ts (the readable reference, also the float64 path).
 */
import { geometry, type Conv2dOptions, type Shape4 } from '../cpu/conv2d.js';
import { getNumThreads } from '../cpu/threadPool.js';
import { buildGatherModule, gatherKey, gatherTable, OB, packedWeightLength, type GatherPass, type GatherSpec } from './gatherConv.js';
import { ARGS_BYTE, heapF32, heapI32, kernelModule, runItems, scratch, setArgs } from './runtime.js';
import { buildPadModule, buildTransposeModule, padKey, transposeKey, type PadSpec, type TransposeSpec } from './layout.js';
import { buildWeightGradModule, channelBlock, DOB, weightGradItems, weightGradKey, type WeightGradSpec } from './weightGrad.js';

const MEMORY_LIMITS = { initial: 1, maximum: 32768 };

/** Below this many FLOPs a convolution runs on one thread (a hand-off costs tens of microseconds). */
export const WASM_THREAD_MIN_FLOPS = 2e6;

function threadsFor(flops: number): number {
  return flops < WASM_THREAD_MIN_FLOPS ? 1 : getNumThreads();
}

/**
 * Copies planes [count][H][W] into scratch as [count][Hp][Wp] with each plane at (top, left) and zeros
 * around it; returns the byte offset. One memcpy into the shared memory, then the pad kernel over the
 * threads (`perItem` planes per work item).
 */
function padIntoScratch(src: Float32Array, count: number, perItem: number, H: number, W: number, Hp: number, Wp: number, top: number, left: number): number {
  const dst = scratch.alloc(count * Hp * Wp);
  const raw = scratch.alloc(count * H * W);
  heapF32().set(src.subarray(0, count * H * W), raw / 4);
  const spec: PadSpec = { planesPerItem: perItem, H, W, Hp, Wp, top, left };
  const kernel = kernelModule(padKey(spec), () => buildPadModule(spec));
  setArgs([raw, dst]);
  runItems(kernel, 'item', ARGS_BYTE, count / perItem, count * Hp * Wp >= COPY_THREAD_MIN ? getNumThreads() : 1);
  return dst;
}

/** Below this many floats a copy runs on one thread. */
const COPY_THREAD_MIN = 1 << 16;

/** Writes the (channel, tap) offset table of a gather kernel into scratch; returns its byte offset. */
function writeTable(spec: GatherSpec): number {
  const table = gatherTable(spec);
  const at = scratch.alloc(table.length);
  heapI32().set(table, at / 4);
  return at;
}

/** Writes a packed operand built in ordinary memory into scratch (one memcpy); returns the byte offset. */
function toScratch(values: Float32Array): number {
  const at = scratch.alloc(values.length);
  heapF32().set(values, at / 4);
  return at;
}

function toF32(a: Float32Array | Float64Array): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}

/** y = conv2d(x, w) + bias → [N, O, HO, WO] (float32). */
export function conv2dForwardWasm(
  x: Float32Array, xShape: Shape4, w: Float32Array, wShape: Shape4, bias: Float32Array | null, opts: Conv2dOptions,
): { out: Float32Array; outShape: Shape4 } {
  const g = geometry(xShape, wShape, opts);
  const { N, C, H, W, O, KH, KW, s, p, HO, WO } = g;
  const outShape: Shape4 = [N, O, HO, WO];
  if (N * O * HO * WO === 0) return { out: new Float32Array(N * O * HO * WO), outShape };
  const Hp = H + 2 * p;
  const Wp = W + 2 * p;
  const taps: number[] = [];
  for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) taps.push(kh * Wp + kw);
  const pass: GatherPass = {
    rows: HO, cols: WO, srcOrigin: 0, srcRowStride: s * Wp, srcColStride: s, taps,
    outOrigin: 0, outRowStride: WO, outColStride: 1, weightOffset: 0,
  };
  const spec: GatherSpec = {
    C, srcChanStride: Hp * Wp, srcImageStride: C * Hp * Wp,
    O, outChanStride: HO * WO, outImageStride: O * HO * WO, bias: bias !== null, passes: [pass],
  };
  scratch.reset();
  const srcB = padIntoScratch(x, N * C, C, H, W, Hp, Wp, p, p);
  const T = KH * KW;
  const packed = new Float32Array(packedWeightLength(spec, pass));
  const OBn = Math.ceil(O / OB);
  // packed[ob][c][t][lane] = w[ob·OB + lane][c][t]
  let at = 0;
  for (let ob = 0; ob < OBn; ob++) {
    for (let c = 0; c < C; c++) {
      for (let t = 0; t < T; t++) {
        for (let l = 0; l < OB; l++) {
          const o = ob * OB + l;
          packed[at++] = o < O ? w[(o * C + c) * T + t]! : 0;
        }
      }
    }
  }
  const wB = toScratch(packed);
  const paddedBias = new Float32Array(OBn * OB);
  if (bias !== null) paddedBias.set(bias);
  const biasB = toScratch(paddedBias);
  const outB = scratch.alloc(N * O * HO * WO);
  const kernel = kernelModule(gatherKey(spec), () => buildGatherModule(spec, MEMORY_LIMITS));
  setArgs([srcB, wB, outB, biasB, writeTable(spec)]);
  runItems(kernel, 'image', ARGS_BYTE, N, threadsFor(2 * N * O * HO * WO * C * T));
  // (views of the heap are taken after the last allocation: growing the memory makes a longer buffer)
  return { out: heapF32().slice(outB / 4, outB / 4 + N * O * HO * WO), outShape };
}

/** dL/dx of y = conv2d(x, w): dy [N, O, HO, WO], w → dx [N, C, H, W] (float32). */
export function conv2dBackwardInputWasm(
  dy: Float32Array, dyShape: Shape4, w: Float32Array, wShape: Shape4, xShape: Shape4, opts: Conv2dOptions,
): Float32Array {
  const g = geometry(xShape, wShape, opts);
  const { N, C, H, W, O, KH, KW, s, p, HO, WO } = g;
  if (dyShape[0] !== N || dyShape[1] !== O || dyShape[2] !== HO || dyShape[3] !== WO) {
    throw new Error(`conv2d: dy shape [${dyShape.join(', ')}] does not match the output [${N}, ${O}, ${HO}, ${WO}]`);
  }
  if (N * C * H * W === 0) return new Float32Array(N * C * H * W);
  // Phase (rh, rw) holds the input positions (s·i + rh, s·j + rw). Tap (kh, kw) reaches them from
  // dy[i + dh, j + dw] with dh = (rh + p − kh)/s when that is an integer.
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
  const Hdp = HO + top + bottom;
  const Wdp = WO + left + right;
  let weightOffset = 0;
  const passes: GatherPass[] = phases.map((ph) => {
    const mdh = Math.min(0, ...ph.taps.map((t) => t.dh));
    const mdw = Math.min(0, ...ph.taps.map((t) => t.dw));
    const pass: GatherPass = {
      rows: ph.rows, cols: ph.cols,
      srcOrigin: (top + mdh) * Wdp + (left + mdw), srcRowStride: Wdp, srcColStride: 1,
      taps: ph.taps.map((t) => (t.dh - mdh) * Wdp + (t.dw - mdw)),
      outOrigin: ph.rh * W + ph.rw, outRowStride: s * W, outColStride: s, weightOffset,
    };
    weightOffset += Math.ceil(C / OB) * O * ph.taps.length * OB;
    return pass;
  });
  const spec: GatherSpec = {
    C: O, srcChanStride: Hdp * Wdp, srcImageStride: O * Hdp * Wdp,
    O: C, outChanStride: H * W, outImageStride: C * H * W, bias: false, passes,
  };
  scratch.reset();
  const srcB = padIntoScratch(dy, N * O, O, HO, WO, Hdp, Wdp, top, left);
  const packed = new Float32Array(Math.max(1, weightOffset));
  const CBn = Math.ceil(C / OB);
  // per phase: packed[cb][o][t][lane] = w[o][cb·OB + lane][kh_t][kw_t]
  let at = 0;
  for (const ph of phases) {
    for (let cb = 0; cb < CBn; cb++) {
      for (let o = 0; o < O; o++) {
        for (const t of ph.taps) {
          for (let l = 0; l < OB; l++) {
            const c = cb * OB + l;
            packed[at++] = c < C ? w[((o * C + c) * KH + t.kh) * KW + t.kw]! : 0;
          }
        }
      }
    }
  }
  const wB = toScratch(packed);
  const outB = scratch.alloc(N * C * H * W);
  const kernel = kernelModule(gatherKey(spec), () => buildGatherModule(spec, MEMORY_LIMITS));
  setArgs([srcB, wB, outB, 0, writeTable(spec)]);
  runItems(kernel, 'image', ARGS_BYTE, N, threadsFor(2 * N * O * HO * WO * C * KH * KW));
  return heapF32().slice(outB / 4, outB / 4 + N * C * H * W);
}

/** dL/dw of y = conv2d(x, w): dy [N, O, HO, WO], x [N, C, H, W] → dw [O, C, KH, KW] (float32), summed over the batch. */
export function conv2dBackwardWeightWasm(
  dy: Float32Array, dyShape: Shape4, x: Float32Array, xShape: Shape4, wShape: Shape4, opts: Conv2dOptions,
): Float32Array {
  const g = geometry(xShape, wShape, opts);
  const { N, C, H, W, O, KH, KW, s, p, HO, WO } = g;
  if (dyShape[0] !== N || dyShape[1] !== O || dyShape[2] !== HO || dyShape[3] !== WO) {
    throw new Error(`conv2d: dy shape [${dyShape.join(', ')}] does not match the output [${N}, ${O}, ${HO}, ${WO}]`);
  }
  const T = KH * KW;
  const dw = new Float32Array(O * C * T);
  if (N === 0 || O === 0 || C === 0) return dw;
  const Hp = H + 2 * p;
  const Wp = W + 2 * p;
  const taps: number[] = [];
  for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) taps.push(kh * Wp + kw);
  const spec: WeightGradSpec = { N, C, O, Hp, Wp, HO, WO, s, taps, CB: channelBlock(C, T) };
  scratch.reset();
  const xB = padIntoScratch(x, N * C, C, H, W, Hp, Wp, p, p);
  const OBn = Math.ceil(O / DOB);
  const Opad = OBn * DOB;
  const P = HO * WO;
  // dyT[n][q][o] = dy[n][o][q], lanes o ≥ O zero
  const dyRaw = toScratch(dy);
  const dyB = scratch.alloc(N * P * Opad);
  const tspec: TransposeSpec = { O, P, Opad };
  setArgs([dyRaw, dyB]);
  runItems(kernelModule(transposeKey(tspec), () => buildTransposeModule(tspec)), 'item', ARGS_BYTE, N, N * P * Opad >= COPY_THREAD_MIN ? getNumThreads() : 1);
  const dwB = scratch.alloc(OBn * C * T * DOB);
  const heap = heapF32();
  heap.fill(0, dwB / 4, dwB / 4 + OBn * C * T * DOB);
  const kernel = kernelModule(weightGradKey(spec), () => buildWeightGradModule(spec, MEMORY_LIMITS));
  setArgs([xB, dyB, dwB]);
  runItems(kernel, 'item', ARGS_BYTE, weightGradItems(spec), threadsFor(2 * N * O * P * C * T));
  // unpack dwp[ob][c][t][lane] → dw[o][c][t]
  for (let o = 0; o < O; o++) {
    const ob = Math.floor(o / DOB);
    const l = o % DOB;
    for (let c = 0; c < C; c++) {
      for (let t = 0; t < T; t++) dw[(o * C + c) * T + t] = heap[dwB / 4 + ((ob * C + c) * T + t) * DOB + l]!;
    }
  }
  return dw;
}

export { toF32 };
